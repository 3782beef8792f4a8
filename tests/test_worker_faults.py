"""A Celery worker killed with SIGKILL while it holds fold messages: nothing is lost, and the
straggler sweep (beat, with the project's own schedule) folds the events within a minute
instead of after the broker's visibility timeout. Real worker, real Redis, real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest
import redis
from django.conf import settings as django_settings

from cms_site.celery import app as celery_app
from personalization.events.models import Event
from personalization.profiles.models import VisitorProfile

from .conftest import Visitor
from .test_real_services import ROOT, _test_database_url, needs_worker

pytestmark = [needs_worker, pytest.mark.worker]


def start_worker(tmp_path, name: str, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONPATH": str(ROOT),
    }
    with (tmp_path / f"{name}.log").open("wb") as log:  # the child keeps its own handle
        return subprocess.Popen(  # noqa: S603 - our own arguments
            [sys.executable, "-m", "celery", "-A", "cms_site", "worker", "-n", f"{name}@%h",
             "-P", "solo", "--without-gossip", "--without-mingle", "--loglevel=warning", *extra],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def wait_for(predicate, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.2)
    pytest.fail(f"{what} not within {timeout} s")


def waiting_on_a_lock() -> bool:
    with psycopg.connect(_test_database_url()) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return row[0] > 0


def test_a_worker_killed_mid_fold_loses_nothing_and_the_sweep_folds_within_a_minute(
    transactional_db, tmp_path
):
    redis.Redis.from_url(os.environ["REDIS_URL"]).delete("events", "default")
    visitors = []
    for _ in range(3):
        v = Visitor()
        v.consent(analytics=True, personalization=True)
        VisitorProfile.objects.create(visitor_id=v.id)
        visitors.append(v)
    first = start_worker(tmp_path, "doomed", "-Q", "events")
    second = None
    celery_app.conf.task_always_eager = False
    try:
        wait_for(lambda: celery_app.control.ping(timeout=0.5), 60, "the first worker")
        # Hold every profile row, so the worker blocks inside its first fold with the others
        # prefetched: all of them unacknowledged (acks_late) when it dies.
        with psycopg.connect(_test_database_url(), autocommit=False) as blocker:
            blocker.execute(
                "SELECT 1 FROM personalization_visitorprofile WHERE visitor_id = ANY(%s) "
                "FOR UPDATE",
                [[v.id for v in visitors]],
            )
            for n, v in enumerate(visitors):
                events = [{"type": "click", "id": f"k{n}-{i}"} for i in range(50)]
                assert v.send(*events).json()["accepted"] == 50
            wait_for(waiting_on_a_lock, 30, "the worker blocking on the profile lock")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            killed_at = time.monotonic()
            blocker.rollback()
        assert Event.objects.filter(folded=False).count() == 150
        # A fresh worker with beat, on the project's schedule; the killed worker's messages
        # stay unacknowledged in Redis (visibility timeout: an hour).
        second = start_worker(
            tmp_path, "survivor", "-Q", "events,default", "--beat",
            "-s", str(tmp_path / "beat-schedule"),
        )  # fmt: skip
        took = wait_for(
            lambda: not Event.objects.filter(folded=False).exists(),
            60 - (time.monotonic() - killed_at),
            "folding the events of the killed worker",
        )
        print(f"folded {time.monotonic() - killed_at:.1f} s after the kill (waited {took:.1f} s)")
        for v in visitors:
            assert v.profile()["event_count"] == 50  # each counted exactly once
        assert Event.objects.count() == 150
        # Results nobody reads are not stored.
        assert not list(
            redis.Redis.from_url(django_settings.CELERY_RESULT_BACKEND).scan_iter(
                "celery-task-meta-*"
            )
        )
    finally:
        celery_app.conf.task_always_eager = True
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()
