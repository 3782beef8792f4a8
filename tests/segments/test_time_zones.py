"""Whose clock a condition reads: the visitor's time zone where it is known (the pz_tz cookie set
by tracker.js, the API's ``timezone``), the site's TIME_ZONE otherwise; dates start at midnight in
the site's time zone on both evaluation paths.

The zones are chosen so that the answer does not depend on when the suite runs: Kiritimati
(UTC+14) and Pago Pago (UTC-11) are 25 hours apart, so their weekdays always differ."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from personalization.segments.models import SegmentMembership
from personalization.segments.request_conditions import DAYS
from personalization.segments.services import recompute_segment

from ..conftest import DESKTOP, Visitor
from .test_segments import segment, segments_of

pytestmark = pytest.mark.django_db

EAST, WEST = "Pacific/Kiritimati", "Pacific/Pago_Pago"
IF_IN = '{% load personalization_tags %}{% if_segment "now" %}yes{% else %}no{% endif_segment %}'


def render_page(cookies: dict[str, str]) -> str:
    """A server-rendered page, as the template tags see it."""
    request = RequestFactory().get("/somewhere/", HTTP_USER_AGENT=DESKTOP)
    request.COOKIES.update(cookies)
    return Template(IF_IN).render(Context({"request": request})).strip()


def today_in(zone: str) -> str:
    return DAYS[timezone.now().astimezone(ZoneInfo(zone)).weekday()]


def test_day_of_week_on_a_page_uses_the_visitors_zone_from_the_cookie(settings):
    settings.TIME_ZONE = WEST
    segment("now", {"type": "day_of_week", "params": {"in": [today_in(EAST)]}})
    assert render_page({"pz_tz": EAST}) == "yes"
    assert render_page({}) == "no"  # the site's zone: a day earlier
    assert render_page({"pz_tz": "Mars/Olympus_Mons"}) == "no"  # unknown: ignored, no error
    assert render_page({"pz_tz": "../../etc/passwd"}) == "no"


def test_time_of_day_on_a_page_uses_the_visitors_zone_from_the_cookie(settings):
    settings.TIME_ZONE = "UTC"
    local = timezone.now().astimezone(ZoneInfo("Asia/Tokyo"))  # UTC+9, no daylight saving
    start, end = (local - timedelta(minutes=30)).time(), (local + timedelta(minutes=30)).time()
    segment(
        "now",
        {"type": "time_of_day", "params": {"from": f"{start:%H:%M}", "to": f"{end:%H:%M}"}},
    )
    assert render_page({"pz_tz": "Asia/Tokyo"}) == "yes"
    assert render_page({}) == "no"


def test_the_visitor_segments_api_reads_the_cookie_and_a_query_zone_wins(settings, visitor):
    settings.TIME_ZONE = WEST
    segment("now", {"type": "day_of_week", "params": {"in": [today_in(EAST)]}})
    assert segments_of(visitor) == []
    visitor.client.cookies["pz_tz"] = EAST
    assert segments_of(visitor) == ["now"]
    response = visitor.client.get(
        f"/api/personalization/v1/visitors/{visitor.id}/segments?timezone={WEST}",
        HTTP_X_VISITOR_ID=visitor.token,
    )
    assert response.json()["segments"] == []


def test_dates_start_at_midnight_in_the_site_zone_on_both_paths(settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    tokyo = ZoneInfo("Asia/Tokyo")
    day = (timezone.now().astimezone(tokyo) - timedelta(days=3)).date()
    # 05:00 in Tokyo on that day is 20:00 UTC the day before: after the date in the site's zone,
    # before it at UTC midnight.
    first = datetime.combine(day, time(5), tzinfo=tokyo)
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    assert v.send({"type": "page_view", "timestamp": first.isoformat()}).status_code == 202
    after = segment("new", {"type": "first_seen", "params": {"op": "after", "date": f"{day}"}})
    before = segment("old", {"type": "first_seen", "params": {"op": "before", "date": f"{day}"}})
    assert segments_of(v) == ["new"]
    recompute_segment(after)
    recompute_segment(before)
    assert list(SegmentMembership.objects.values_list("segment__slug", flat=True)) == ["new"]
