"""Rate limits as a client sees them: the limit per visitor and per address, a sliding window
(no double burst at a minute's edge), ``Retry-After``, and one limit not leaking into another."""

from __future__ import annotations

import time as real_time
import uuid

import pytest

from personalization.api.v1 import throttling
from personalization.profiles.identity import sign_visitor_id

from .conftest import PROFILE_URL, Visitor

pytestmark = pytest.mark.django_db


class Clock:
    """``time`` for the throttle module only, so a test can stand at a window's edge."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return real_time.monotonic()


@pytest.fixture
def clock(monkeypatch):
    fake = Clock(1_800_000_059.0)  # one second before a whole minute
    monkeypatch.setattr(throttling, "time", fake)
    return fake


def new_visitor() -> Visitor:
    visitor = Visitor()
    visitor.token = sign_visitor_id(uuid.uuid4())
    return visitor


def profile_status(visitor: Visitor) -> int:
    return visitor.client.get(PROFILE_URL, HTTP_X_VISITOR_ID=visitor.token).status_code


def test_a_burst_at_the_end_of_a_minute_still_counts_just_after_it(settings, clock):
    settings.PERSONALIZATION_THROTTLE_RATES = {"visitor": "4/min"}
    visitor = new_visitor()
    assert [profile_status(visitor) for _ in range(4)] == [200] * 4
    clock.now += 1.5  # a new fixed window has begun; the last minute still holds 4 requests
    response = visitor.client.get(PROFILE_URL, HTTP_X_VISITOR_ID=visitor.token)
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 60
    clock.now += 58  # the burst has all but slid out of the last 60 seconds
    assert profile_status(visitor) == 200


def test_each_visitor_has_their_own_budget(settings, clock):
    settings.PERSONALIZATION_THROTTLE_RATES = {"visitor": "2/min"}
    first, second = new_visitor(), new_visitor()
    assert [profile_status(first) for _ in range(3)] == [200, 200, 429]
    assert profile_status(second) == 200


def test_the_address_limit_and_the_visitor_limit_both_apply(settings, clock):
    settings.PERSONALIZATION_THROTTLE_RATES = {"visitor": "100/min", "anonymous": "3/min"}
    statuses = [profile_status(new_visitor()) for _ in range(4)]  # new visitors, one address
    assert statuses == [200, 200, 200, 429]


RECOMMENDATIONS_URL = "/api/personalization/v1/recommendations"


def recommendations(visitor: Visitor, **params):
    return visitor.client.get(RECOMMENDATIONS_URL, params, HTTP_X_VISITOR_ID=visitor.token)


def test_limits_counted_in_the_hot_read_refuse_like_the_others(settings, clock):
    """decide and recommendations count their limits in the read they make anyway (with Redis):
    the same budget, the same 429 and ``Retry-After``, one visitor's calls not counting
    against another's."""
    settings.PERSONALIZATION_THROTTLE_RATES = {"visitor": "2/min"}
    first, second = new_visitor(), new_visitor()
    assert [recommendations(first).status_code for _ in range(2)] == [200, 200]
    refused = recommendations(first)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert recommendations(second).status_code == 200
    clock.now += 120  # both windows have passed
    assert recommendations(first).status_code == 200


def test_requests_refused_before_the_hot_read_still_count(settings, clock):
    settings.PERSONALIZATION_THROTTLE_RATES = {"visitor": "2/min"}
    visitor = new_visitor()
    assert [recommendations(visitor, limit="many").status_code for _ in range(2)] == [400, 400]
    assert recommendations(visitor).status_code == 429


def test_decide_refuses_right_after_its_read_before_checking_placements(settings, clock):
    """An unknown placement is a 400 found after the read: those calls count, and the call over
    the limit is a 429 before the placements are looked at."""
    settings.PERSONALIZATION_THROTTLE_RATES = {"visitor": "2/min"}
    visitor = new_visitor()

    def decide():
        return visitor.client.post(
            "/api/personalization/v1/decide",
            {"placements": ["no-such-placement"]},
            content_type="application/json",
            HTTP_X_VISITOR_ID=visitor.token,
        ).status_code

    assert [decide() for _ in range(3)] == [400, 400, 429]
