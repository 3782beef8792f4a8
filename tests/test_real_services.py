"""Integration with the real services CI runs: a Celery worker over Redis, PostgreSQL locking.

Skipped on a laptop without them (SQLite, no REDIS_URL); CI sets both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection, connections

from cms_site.celery import app as celery_app
from personalization.consent.services import record_consent
from personalization.events.models import Event
from personalization.ingestion import ingest_events
from personalization.profiles.models import ProfileCounter
from personalization.profiles.snapshot import get_snapshot
from personalization.types import EventIn, RequestContext

from .conftest import Visitor

ROOT = Path(__file__).resolve().parent.parent
needs_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL (DATABASE_URL)",
)
needs_worker = pytest.mark.skipif(
    not os.environ.get("REDIS_URL")
    or not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs a Redis broker and a database a second process can share",
)


def _test_database_url() -> str:
    s = connection.settings_dict
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{host}:{port}/{s['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """A real worker process consuming the README's queues from Redis, on the test database."""
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cms_site",
            "worker",
            "-Q",
            "default,events,segments,training",
            "-P",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    celery_app.conf.task_always_eager = False
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                pytest.fail(f"worker died: {(tmp_path / 'worker.log').read_text()[-2000:]}")
            replies = celery_app.control.ping(timeout=0.5)
            if replies:
                break
        else:
            pytest.fail("worker did not answer a ping within 60 s")
        yield worker
    finally:
        celery_app.conf.task_always_eager = True
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
        log.close()


def executed_by_worker() -> dict[str, int]:
    """How many tasks of each name the worker has run, as its own stats report them."""
    stats = celery_app.control.inspect(timeout=5).stats() or {}
    assert len(stats) == 1, f"expected the one test worker to answer, got {list(stats)}"
    return next(iter(stats.values())).get("total", {})


@needs_worker
@pytest.mark.worker
def test_events_are_folded_by_a_real_worker(celery_worker_process, settings):
    settings.PERSONALIZATION_INLINE_FOLD_MAX_EVENTS = 1  # a batch of 2 goes to the worker
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    response = v.send_signed(
        {"type": "page_view", "id": "w1", "properties": {"tags": ["ai"]}},
        {"type": "purchase", "id": "w2", "properties": {"value": 12}},
    )
    assert response.status_code == 202 and response.json()["accepted"] == 2
    deadline = time.monotonic() + 30
    profile = {}
    while time.monotonic() < deadline:
        profile = v.profile()
        if profile["event_count"] == 2:
            break
        time.sleep(0.05)
    assert profile["event_count"] == 2, "the worker did not fold the batch within 30 s"
    assert executed_by_worker().get("personalization.fold_profile", 0) >= 1
    assert profile["counts"]["page_view|tag:ai"] == 1
    assert profile["rfm"]["monetary"] == 12.0
    assert not Event.objects.filter(folded=False).exists()
    # Re-delivering the same batch changes nothing.
    again = v.send({"type": "page_view", "id": "w1", "properties": {"tags": ["ai"]}})
    assert again.json()["duplicates"] == 1
    time.sleep(0.5)
    assert v.profile()["event_count"] == 2


@needs_worker
@pytest.mark.worker
def test_a_browsers_small_batch_is_folded_before_the_202_and_large_ones_by_the_worker(
    celery_worker_process, settings
):
    """Freshness: the visitor's next page sees a small batch at once, with workers running;
    a batch over ``INLINE_FOLD_MAX_EVENTS`` costs the web process no fold."""
    settings.PERSONALIZATION_INLINE_FOLD_MAX_EVENTS = 3
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    folds_before = executed_by_worker().get("personalization.fold_profile", 0)
    small = v.send(*[{"type": "click", "id": f"s{i}"} for i in range(3)])
    assert small.json()["accepted"] == 3
    assert v.profile()["event_count"] == 3  # no waiting: folded in the request
    assert executed_by_worker().get("personalization.fold_profile", 0) == folds_before

    large = v.send(*[{"type": "click", "id": f"l{i}"} for i in range(4)])
    assert large.json()["accepted"] == 4
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and v.profile()["event_count"] != 7:
        time.sleep(0.05)
    assert v.profile()["event_count"] == 7
    assert executed_by_worker().get("personalization.fold_profile", 0) == folds_before + 1


@needs_postgres
@pytest.mark.postgres
def test_concurrent_batches_for_one_visitor_lose_no_counts(transactional_db, settings):
    settings.PERSONALIZATION_FOLD_MODE = "inline"
    vid = uuid.uuid4()
    record_consent(vid, {"analytics": True, "personalization": True})
    threads, per_thread, batches = 6, 40, 3
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for b in range(batches):
                events = [
                    EventIn("click", _now(), {"tags": ["x"]}, client_id=f"t{n}-b{b}-e{i}")
                    for i in range(per_thread)
                ]
                ingest_events(vid, events, RequestContext())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert not errors, errors
    expected = threads * per_thread * batches
    assert Event.objects.filter(visitor_id=vid).count() == expected
    snap = get_snapshot(vid)
    assert snap.event_count == expected
    assert snap.count("click", "tag:x") == expected
    total = ProfileCounter.objects.get(
        profile__visitor_id=vid, granularity="t", event_type="click", dimension=""
    )
    assert total.count == expected


@needs_postgres
@pytest.mark.postgres
def test_the_same_batch_delivered_at_once_is_accepted_once(transactional_db, settings):
    """Retries that overlap (a beacon and a fetch, say) must not be reported as accepted twice."""
    settings.PERSONALIZATION_FOLD_MODE = "inline"
    vid = uuid.uuid4()
    record_consent(vid, {"analytics": True, "personalization": True})
    copies = 5
    batch = [EventIn("click", _now(), {}, client_id=f"dup-{i}") for i in range(50)]
    barrier = threading.Barrier(copies)
    results = []

    def deliver() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(ingest_events(vid, batch, RequestContext()))
        finally:
            connections.close_all()

    pool = [threading.Thread(target=deliver) for _ in range(copies)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert len(results) == copies
    assert sum(r.accepted for r in results) == 50
    assert sum(r.duplicates for r in results) == 50 * (copies - 1)
    assert get_snapshot(vid).event_count == 50


@needs_postgres
@pytest.mark.postgres
def test_a_withdrawal_while_a_fold_waits_is_not_ignored(transactional_db, settings):
    """A fold that waits for the profile row while personalization consent is withdrawn must
    not count its events afterwards: consent is read under the locks, and a withdrawal waits for
    a fold that holds them. Whatever the order, no fold that commits after the withdrawal has
    returned counts anything."""
    from django.db import transaction

    from personalization.profiles.folding import fold_visitor
    from personalization.profiles.models import VisitorProfile

    settings.PERSONALIZATION_FOLD_MODE = "inline"
    vid = uuid.uuid4()
    record_consent(vid, {"analytics": True, "personalization": True})
    ingest_events(vid, [EventIn("click", _now(), {}, client_id="first")], RequestContext())
    ingest_events(
        vid, [EventIn("click", _now(), {}, client_id="second")], RequestContext(), fold=False
    )
    assert VisitorProfile.objects.get(visitor_id=vid).event_count == 1
    holding, release = threading.Event(), threading.Event()
    finished: dict[str, float] = {}
    errors: list[BaseException] = []

    def hold_profile_row() -> None:  # another writer of the profile (a merge, say)
        try:
            with transaction.atomic():
                VisitorProfile.objects.select_for_update().get(visitor_id=vid)
                holding.set()
                release.wait(timeout=20)
        finally:
            connections.close_all()

    def run(name, work) -> None:
        try:
            work()
            finished[name] = time.monotonic()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_profile_row)
    holder.start()
    assert holding.wait(timeout=10)
    fold = threading.Thread(target=run, args=("fold", lambda: fold_visitor(vid)))
    fold.start()
    _wait_for_lock_waiters(1)  # the fold is waiting for the profile row
    withdraw = threading.Thread(
        target=run,
        args=("withdrawal", lambda: record_consent(vid, {"personalization": False})),
    )
    withdraw.start()
    withdraw.join(timeout=1)  # done at once unless it waits for the fold
    release.set()
    for t in (holder, fold, withdraw):
        t.join(timeout=30)
    assert not errors, errors
    counted = VisitorProfile.objects.get(visitor_id=vid).event_count
    if finished["withdrawal"] < finished["fold"]:
        assert counted == 1, "the fold counted an event after consent was withdrawn"
    else:
        assert counted == 2


def _wait_for_lock_waiters(count: int, timeout: float = 10) -> None:
    """Until ``count`` other sessions of the test database wait on a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] >= count:
                return
        time.sleep(0.02)
    raise AssertionError(f"no {count} session(s) waiting on a lock within {timeout} s")


def _now():
    from django.utils import timezone

    return timezone.now()


@needs_worker
@pytest.mark.worker
def test_recompute_now_goes_to_the_segments_queue_and_a_worker_does_it(celery_worker_process):
    """The worker command the README gives (-Q ...,events,segments) consumes admin recomputes."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from personalization.segments.models import Segment
    from personalization.segments.services import save_segment

    v = Visitor()
    v.consent(analytics=True, personalization=True)
    v.send({"type": "page_view", "id": "r1"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and v.profile()["event_count"] < 1:
        time.sleep(0.05)
    segment = save_segment(
        Segment(
            name="Viewers",
            slug="viewers",
            status="enabled",
            rules={"type": "event_count", "params": {"event": "page_view", "op": ">=", "value": 1}},
        )
    )
    Segment.objects.filter(pk=segment.pk).update(member_count=0, last_recomputed_at=None)
    admin = get_user_model().objects.create_superuser("root", "r@example.com", "x")
    client = Client()
    client.force_login(admin)
    response = client.post(f"/admin/personalization/segments/recompute/{segment.pk}/")
    assert response.status_code == 302
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        segment.refresh_from_db()
        if segment.last_recomputed_at is not None:
            break
        time.sleep(0.1)
    assert segment.last_recomputed_at is not None, "no worker recomputed the segment in 30 s"
    assert segment.member_count == 1
    # The worker ran it under the task's registered name (a send that failed would have run it
    # in the request instead, and a renamed task would sit unregistered on the worker).
    assert executed_by_worker().get("personalization.recompute_segment") == 1
