"""Windows close on time: an event stops counting at most 5 minutes after it left the window, on
the page (snapshot), in bulk (SQL), and in the stored membership without any new event (the
window sweep). Every instant here is given explicitly: no test waits for the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from personalization.celery import beat_schedule
from personalization.profiles.models import Granularity, ProfileCounter, VisitorProfile
from personalization.profiles.snapshot import get_snapshot
from personalization.segments.models import SegmentMembership
from personalization.segments.services import recompute_segment
from personalization.segments.windows import recheck_due_windows
from personalization.signals import segment_left
from personalization.tasks import recheck_segment_windows

from ..conftest import Visitor
from .test_segments import segment

pytestmark = pytest.mark.django_db

DAY = timedelta(hours=24)
RECENT = {
    "type": "event_count",
    "params": {
        "event": "page_view",
        "op": ">=",
        "value": 1,
        "within": {"amount": 24, "unit": "hours"},
    },
}


def an_hour_ago_at_ten_past() -> datetime:
    """10 min 17 s past the hour, three hours ago: the old hourly buckets kept such an event
    counting for 49 minutes after its window closed."""
    start = (timezone.now() - timedelta(hours=3)).astimezone(UTC)
    return start.replace(minute=10, second=17, microsecond=0)


def reader(at: datetime) -> Visitor:
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    response = v.send({"type": "page_view", "timestamp": at.isoformat()})
    assert response.status_code == 202, response.content
    return v


def test_an_event_stops_counting_within_5_minutes_of_leaving_the_window():
    at = an_hour_ago_at_ten_past()
    snap = get_snapshot(reader(at).id)
    assert snap.count("page_view", within=DAY, now=at + DAY - timedelta(seconds=1)) == 1
    assert snap.count("page_view", within=DAY, now=at + DAY + timedelta(minutes=5)) == 0
    # A short window too: one hour.
    hour = timedelta(hours=1)
    assert snap.count("page_view", within=hour, now=at + hour) == 1
    assert snap.count("page_view", within=hour, now=at + hour + timedelta(minutes=5)) == 0


def test_the_bulk_recompute_agrees_at_the_edge():
    at = an_hour_ago_at_ten_past()
    recent = segment("recent", RECENT)
    v = reader(at)
    assert SegmentMembership.objects.filter(segment=recent, visitor_id=v.id).exists()
    assert recompute_segment(recent, now=at + DAY - timedelta(seconds=1))["left"] == 0
    assert recompute_segment(recent, now=at + DAY + timedelta(minutes=5))["left"] == 1


def test_membership_is_dropped_when_the_window_closes_without_a_new_event():
    at = an_hour_ago_at_ten_past()
    recent = segment("recent", RECENT)
    v = reader(at)
    assert SegmentMembership.objects.filter(segment=recent, visitor_id=v.id).exists()
    # The fold stored when the visitor's window closes: the event's 5-minute bucket
    # (hh:10-hh:15) leaves the 24 hours at hh:15 the next day.
    closes = at.replace(minute=15, second=0) + DAY
    profile = VisitorProfile.objects.get(visitor_id=v.id)
    assert profile.segments_recheck_at == closes
    left = []
    segment_left.connect(
        lambda sender, segment, visitor_ids, **kw: left.extend(visitor_ids),
        weak=False,
        dispatch_uid="t-window-left",
    )
    try:
        assert recheck_due_windows(now=closes - timedelta(seconds=1)) == 0  # not yet due
        assert SegmentMembership.objects.filter(segment=recent).exists()
        assert recheck_due_windows(now=closes) == 1
        assert recheck_due_windows(now=closes) == 0  # done: nothing further to wait for
    finally:
        segment_left.disconnect(dispatch_uid="t-window-left")
    assert left == [v.id]
    assert not SegmentMembership.objects.filter(segment=recent).exists()
    profile.refresh_from_db()
    assert profile.segments_recheck_at is None


def test_the_next_instant_is_the_oldest_counted_event_and_moves_on():
    first = an_hour_ago_at_ten_past()
    segment("recent", RECENT)
    v = reader(first)
    second = first + timedelta(minutes=32)  # hh:42:17, bucket hh:40-hh:45
    assert v.send({"type": "page_view", "timestamp": second.isoformat()}).status_code == 202
    closes_first = first.replace(minute=15, second=0) + DAY
    closes_second = second.replace(minute=45, second=0) + DAY
    profile = VisitorProfile.objects.get(visitor_id=v.id)
    assert profile.segments_recheck_at == closes_first
    assert recheck_due_windows(now=closes_first) == 1  # still a member: the second event counts
    assert SegmentMembership.objects.filter(visitor_id=v.id).exists()
    profile.refresh_from_db()
    assert profile.segments_recheck_at == closes_second


def test_a_sweep_takes_every_due_visitor_up_to_its_limit_oldest_first():
    at = an_hour_ago_at_ten_past()
    recent = segment("recent", RECENT)
    oldest = reader(at)
    later = [reader(at + timedelta(minutes=20)) for _ in range(2)]
    active = reader(timezone.now())
    closes_later = (at + timedelta(minutes=20)).replace(minute=35, second=0) + DAY

    def members() -> set:
        return set(
            SegmentMembership.objects.filter(segment=recent).values_list("visitor_id", flat=True)
        )

    assert recheck_due_windows(now=closes_later, limit=1) == 1
    assert members() == {later[0].id, later[1].id, active.id}  # the oldest instant went first
    assert oldest.id not in members()
    assert recheck_due_windows(now=closes_later) == 2
    assert recheck_due_windows(now=closes_later) == 0
    assert members() == {active.id}


def test_the_sweep_is_a_beat_task_every_minute():
    schedule = beat_schedule()["personalization-recheck-segment-windows"]
    assert schedule["task"] == "personalization.recheck_segment_windows"
    assert schedule["schedule"] == 60.0
    at = an_hour_ago_at_ten_past()
    recent = segment("recent", RECENT)
    v = reader(at)
    # Due (as if the beat had been down): the task re-evaluates at the real time, when the
    # event still counts, and stores the next instant again.
    VisitorProfile.objects.filter(visitor_id=v.id).update(
        segments_recheck_at=timezone.now() - timedelta(minutes=1)
    )
    recheck_segment_windows.delay()
    assert SegmentMembership.objects.filter(segment=recent, visitor_id=v.id).exists()
    profile = VisitorProfile.objects.get(visitor_id=v.id)
    assert profile.segments_recheck_at == at.replace(minute=15, second=0) + DAY


def test_hours_folded_before_5_minute_buckets_still_count_whole():
    """Counters written before the upgrade have no 5-minute rows: their hour counts whole at
    the window's edge, as it did, on both paths."""
    at = an_hour_ago_at_ten_past()
    recent = segment("recent", RECENT)
    v = reader(at)
    ProfileCounter.objects.filter(granularity=Granularity.FIVE_MINUTES).delete()
    from django.core.cache import cache

    cache.clear()
    snap = get_snapshot(v.id)
    late = at + DAY + timedelta(minutes=30)  # hh:40 the next day: the hour is partly inside
    assert snap.count("page_view", within=DAY, now=late) == 1
    assert recompute_segment(recent, now=late)["left"] == 0
    after = at.replace(minute=0, second=0) + timedelta(hours=1) + DAY
    assert snap.count("page_view", within=DAY, now=after) == 0
    assert recompute_segment(recent, now=after)["left"] == 1
