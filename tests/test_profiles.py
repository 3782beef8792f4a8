"""Profiles: counters in time windows, visits, RFM, context, traits, snapshot cache."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from personalization.consent.services import record_consent
from personalization.events.models import Event
from personalization.ingestion import ingest_events
from personalization.profiles.folding import fold_visitor
from personalization.profiles.snapshot import get_snapshot
from personalization.tasks import fold_profile
from personalization.types import EventIn, RequestContext

from .conftest import IPHONE

pytestmark = pytest.mark.django_db


def consenting_visitor() -> uuid.UUID:
    vid = uuid.uuid4()
    record_consent(vid, {"analytics": True, "personalization": True})
    return vid


def at(minutes_ago: float, type_: str = "page_view", **properties) -> EventIn:
    return EventIn(type_, timezone.now() - timedelta(minutes=minutes_ago), properties)


def test_window_counts_are_exact_at_the_hour():
    vid = consenting_visitor()
    events = [at(m, "page_view", tags=["news"]) for m in (5, 70, 60 * 23, 60 * 26, 60 * 24 * 20)]
    result = ingest_events(vid, events, RequestContext())
    assert result.accepted == 5
    snap = get_snapshot(vid)
    assert snap.count("page_view", within=timedelta(hours=2)) == 2
    assert snap.count("page_view", "tag:news", within=timedelta(hours=24)) == 3
    assert snap.count("page_view", within=timedelta(days=30)) == 5
    assert snap.count("page_view") == 5
    assert snap.count("click") == 0


def test_sum_of_purchase_value_in_a_window_and_rfm():
    vid = consenting_visitor()
    ingest_events(
        vid,
        [at(60, "purchase", value=20), at(60 * 24 * 10, "purchase", value=100.25)],
        RequestContext(),
    )
    snap = get_snapshot(vid)
    assert snap.value_sum("purchase", within=timedelta(days=2)) == 20
    assert snap.value_sum("purchase", within=timedelta(days=30)) == 120.25
    assert (snap.purchase_count, snap.monetary_total) == (2, 120.25)
    assert 0.04 < snap.recency_days < 0.05


def test_visits_follow_the_thirty_minute_inactivity_rule():
    vid = consenting_visitor()
    ingest_events(vid, [at(200), at(190), at(170)], RequestContext())  # one visit
    ingest_events(vid, [at(100)], RequestContext())  # 70 minutes later: a new visit
    ingest_events(vid, [at(80), at(60)], RequestContext())  # 20 minutes on: same visit
    assert get_snapshot(vid).visit_count == 2


def test_profile_takes_device_location_language_and_first_and_latest_referrer():
    vid = consenting_visitor()
    first = RequestContext.from_user_agent(
        IPHONE,
        country="DE",
        language="de-de",
        referrer="https://www.google.com/",
        url="https://site.test/?utm_source=newsletter&utm_campaign=spring&x=1",
    )
    ingest_events(vid, [at(120)], first)
    later = RequestContext.from_user_agent("", referrer="https://news.ycombinator.com/")
    ingest_events(vid, [at(10)], later)
    snap = get_snapshot(vid)
    assert (snap.device_type, snap.os, snap.country, snap.language) == (
        "mobile",
        "iOS",
        "DE",
        "de-de",
    )
    assert snap.first_referrer == "https://www.google.com/"
    assert snap.first_utm == {"utm_source": "newsletter", "utm_campaign": "spring"}
    assert snap.latest_referrer == "https://news.ycombinator.com/"
    assert snap.visit_count == 2


def test_folding_is_idempotent_and_a_redelivered_task_counts_nothing():
    vid = consenting_visitor()
    ingest_events(vid, [at(5, "click"), at(4, "click")], RequestContext())
    assert fold_visitor(vid) == 0
    assert fold_profile.apply(args=[str(vid)]).get() == 0
    assert get_snapshot(vid).count("click") == 2


def test_events_without_personalization_consent_are_kept_but_not_profiled():
    vid = uuid.uuid4()
    record_consent(vid, {"analytics": True, "personalization": False})
    result = ingest_events(vid, [at(5, "click")], RequestContext())
    assert result.accepted == 1
    snap = get_snapshot(vid)
    assert not snap.exists
    assert Event.objects.get(visitor_id=vid).folded


def test_snapshot_hit_costs_no_query(django_assert_num_queries):
    vid = consenting_visitor()
    ingest_events(vid, [at(5)], RequestContext())
    get_snapshot(vid)
    with django_assert_num_queries(0):
        for _ in range(5):
            assert get_snapshot(vid).event_count == 1


def test_snapshot_miss_costs_three_queries_at_most(django_assert_num_queries):
    vid = consenting_visitor()
    ingest_events(vid, [at(5), at(3, "click", tags=["a", "b"])], RequestContext())
    from django.core.cache import cache

    from personalization.profiles.snapshot import snapshot_keys
    from personalization.segments.definitions import compiled_segments

    compiled_segments()  # a server's definitions are loaded once per process, not per miss
    cache.delete_many(snapshot_keys(vid))  # evicted, or expired
    with django_assert_num_queries(3):
        get_snapshot(vid)


def test_ingestion_round_trips_do_not_grow_with_batch_size(
    django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    vid = consenting_visitor()
    with django_capture_on_commit_callbacks(execute=True):  # commit: the snapshot is re-warmed
        ingest_events(vid, [at(2, "click")], RequestContext())
    small = [at(1, "click", tags=["x"])]
    big = [at(i / 10, "page_view", tags=[f"t{i % 7}"], page_id=i) for i in range(300)]
    # Savepoints count too: 11 statements store and fold a batch (one insert for the events,
    # one upsert for the counters), plus on PostgreSQL the advisory lock that serialises the fold
    # with erasure; 3 re-warm the snapshot after commit. 300 events over 300 pages make ~2,000
    # counter rows, upserted 500 per statement: that is the only growth.
    with (
        django_assert_max_num_queries(15) as small_ctx,
        django_capture_on_commit_callbacks(execute=True),
    ):
        ingest_events(vid, small, RequestContext())
    with django_assert_max_num_queries(19) as big_ctx:
        ingest_events(vid, big, RequestContext())
    assert len(big_ctx.captured_queries) <= len(small_ctx.captured_queries) + 4


def test_a_fold_updates_a_large_snapshot_exactly_as_a_rebuild_would(
    django_capture_on_commit_callbacks, settings
):
    """Folding adds its deltas to the cached snapshot instead of re-reading every counter: the
    result equals build_snapshot's, and the fold reads no counter row."""
    import dataclasses
    import random

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from personalization.profiles.snapshot import build_snapshot

    rng = random.Random(9)
    vid = consenting_visitor()
    history = [
        at(
            rng.choice([rng.uniform(1, 60 * 40), rng.uniform(60 * 48, 60 * 24 * 60)]),
            rng.choice(["page_view", "click", "purchase"]),
            tags=rng.sample(["a", "b", "c", "d", "e", "f"], 2),
            page_id=rng.randint(1, 40),
            value=round(rng.uniform(1, 300), 2),
        )
        for _ in range(600)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(vid, history, RequestContext())
    warm = get_snapshot(vid)
    assert sum(len(b) for b in warm.fine.values()) > 1000
    assert sum(len(b) for b in warm.daily.values()) > 500
    new = [
        at(0.2, "purchase", tags=["a", "new"], value=12.34),
        at(0.1, "page_view", page_id=7),
        at(60 * 30, "click", tags=["b"]),  # into an existing hour and day
    ]
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        ingest_events(vid, new, RequestContext())
    counter_reads = [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT") and "personalization_profilecounter" in q["sql"]
    ]
    assert counter_reads == []
    cached = get_snapshot(vid)
    rebuilt = build_snapshot(vid, generation=cached.generation)
    assert cached.event_count == 603
    assert dataclasses.replace(cached, built_at=None) == dataclasses.replace(rebuilt, built_at=None)

    # Shorter horizons (as time passing would make them): buckets behind them leave on the fold.
    settings.PERSONALIZATION_HOURLY_COUNTER_HOURS = 5
    settings.PERSONALIZATION_DAILY_COUNTER_DAYS = 20
    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(vid, [at(0.05, "click", tags=["a"])], RequestContext())
    cached = get_snapshot(vid)
    rebuilt = build_snapshot(vid, generation=cached.generation)
    assert sum(len(b) for b in cached.fine.values()) < sum(len(b) for b in warm.fine.values())
    assert dataclasses.replace(cached, built_at=None) == dataclasses.replace(rebuilt, built_at=None)


def test_snapshot_follows_writes_immediately():
    vid = consenting_visitor()
    assert get_snapshot(vid).count("click") == 0
    ingest_events(vid, [at(1, "click")], RequestContext())
    assert get_snapshot(vid).count("click") == 1


def test_counts_in_a_long_window_use_daily_buckets(settings):
    settings.PERSONALIZATION_HOURLY_COUNTER_HOURS = 24
    vid = consenting_visitor()
    ingest_events(vid, [at(60 * 24 * 3), at(60 * 24 * 5), at(30)], RequestContext())
    snap = get_snapshot(vid)
    assert snap.count("page_view", within=timedelta(days=7)) == 3
    assert snap.count("page_view", within=timedelta(hours=12)) == 1


def test_events_whose_fold_task_was_lost_are_folded_by_the_sweeper(settings):
    from personalization.tasks import fold_straggling_events

    vid = consenting_visitor()
    ingest_events(vid, [at(10, "click")], RequestContext(), fold=False)  # as if the task was lost
    assert not get_snapshot(vid).exists
    assert fold_straggling_events.apply().get() == 0  # too recent: its task may still be queued
    Event.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    assert fold_straggling_events.apply().get() == 1
    assert get_snapshot(vid).count("click") == 1
    assert fold_straggling_events.apply().get() == 0
