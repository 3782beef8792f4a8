"""Scheduled variants: a variant with a start and an end shows from its start (inclusive) until
its end (exclusive), on the rendered page; a start or end stored without an offset is read in
the site's time zone. Found by mutation testing (docs/testing.md): no test set a schedule."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.utils import timezone

from personalization.variants.selection import VariantRule, choose

from ..conftest import Visitor
from ..rendering.conftest import FALLBACK_TEXT, add_article, personalized_block, variant

pytestmark = pytest.mark.django_db

PROMO_TEXT = "SCHEDULED-PROMOTION"
HOUR = datetime.timedelta(hours=1)


def page_text(home, start, end, slug: str) -> str:
    """The article as a visitor sees it, with one everyone-variant scheduled start..end."""
    iso = lambda moment: moment.isoformat() if moment else None  # noqa: E731
    promo = variant(str(uuid.uuid4()), [], PROMO_TEXT, start=iso(start), end=iso(end))
    page = add_article(home, [personalized_block(promo)], slug=slug)
    response = Visitor().client.get(page.url)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    ("start", "end", "shown"),
    [
        (-HOUR, HOUR, True),
        (HOUR, 2 * HOUR, False),  # not started
        (-2 * HOUR, -HOUR, False),  # over
        (None, HOUR, True),
        (-HOUR, None, True),
    ],
)
def test_a_scheduled_variant_shows_only_within_its_window(home, segments, start, end, shown):
    now = timezone.now()
    text = page_text(
        home,
        now + start if start is not None else None,
        now + end if end is not None else None,
        slug=f"promo-{uuid.uuid4().hex[:8]}",
    )
    assert (PROMO_TEXT in text) is shown
    assert (FALLBACK_TEXT in text) is not shown


def test_a_schedule_without_an_offset_is_read_in_the_sites_time_zone(home, segments, settings):
    """UTC+14: a naive start two hours ahead of UTC's wall clock began twelve hours ago there."""
    settings.TIME_ZONE = "Etc/GMT-14"
    wall_clock_utc = timezone.now().astimezone(datetime.UTC).replace(tzinfo=None)
    text = page_text(home, wall_clock_utc + 2 * HOUR, None, slug="naive-start")
    assert PROMO_TEXT in text
    text = page_text(home, None, wall_clock_utc + 2 * HOUR, slug="naive-end")
    assert PROMO_TEXT not in text  # ended ten hours ago in the site's zone
    assert FALLBACK_TEXT in text


def test_the_start_is_inclusive_and_the_end_exclusive():
    start = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
    end = start + HOUR
    rule = VariantRule(id="promo", start=start, end=end)
    tick = datetime.timedelta(microseconds=1)
    at = lambda moment: choose([(rule, "promo")], (), "default", now=moment).payload  # noqa: E731
    assert at(start - tick) == "default"
    assert at(start) == "promo"
    assert at(end - tick) == "promo"
    assert at(end) == "default"
