"""Profile-only segments are answered when the profile changes (the snapshot carries the
answers), not re-evaluated on every request; the answers stop being used as soon as an editor
changes the definitions or a window closes."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from personalization.segments.profile_conditions import EventCount
from personalization.segments.services import save_segment

from ..conftest import Visitor
from .test_segments import READER, read_ai, segment, segments_of

pytestmark = pytest.mark.django_db

WITHIN_AN_HOUR = {
    "type": "event_count",
    "params": {
        "event": "page_view",
        "op": ">=",
        "value": 1,
        "within": {"amount": 1, "unit": "hours"},
    },
}


def reader(times: int = 3, *, hours_ago: float = 0) -> Visitor:
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    assert read_ai(v, times, hours_ago=hours_ago).status_code == 202
    return v


@pytest.fixture
def counted_event_counts(monkeypatch) -> list[int]:
    """How many times an ``event_count`` condition was evaluated."""
    calls = [0]
    real = EventCount.matches

    def counting(self, ctx):
        calls[0] += 1
        return real(self, ctx)

    monkeypatch.setattr(EventCount, "matches", counting)
    return calls


def test_a_request_does_not_re_evaluate_profile_only_segments(counted_event_counts):
    segment("ai-readers", READER)
    segment("recent", WITHIN_AN_HOUR)
    v = reader()
    assert segments_of(v) == ["ai-readers", "recent"]  # the first read may build the snapshot
    counted_event_counts[0] = 0
    assert segments_of(v) == ["ai-readers", "recent"]
    assert counted_event_counts[0] == 0


def test_segments_with_request_conditions_are_still_evaluated_per_request():
    segment("ai-on-mobile", {"all": [READER, {"type": "device", "params": {"in": ["mobile"]}}]})
    v = reader()
    assert segments_of(v) == []
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"
    assert segments_of(v, HTTP_USER_AGENT=iphone) == ["ai-on-mobile"]


def test_an_edited_segment_applies_at_once_without_a_new_event():
    ai = segment("ai-readers", READER)
    v = reader(times=3)
    assert segments_of(v) == ["ai-readers"]
    ai.rules = {**READER, "params": {**READER["params"], "value": 5}}
    save_segment(ai)
    assert segments_of(v) == []


def test_a_window_that_closes_is_seen_without_a_new_event():
    segment("recent", WITHIN_AN_HOUR)
    v = reader(times=1, hours_ago=0.9)
    assert segments_of(v) == ["recent"]
    # 67 minutes old by then: out of the hour (5-minute buckets leave at most 5 minutes late),
    # and sooner than the 15 minutes after which a precomputed answer is never trusted.
    later = timezone.now() + timedelta(minutes=13)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert segments_of(v) == []
