"""A page's personalized blocks convert only what they show, except content with chooser items
(images...), which Wagtail converts in one query for the whole page: that stays one query
however many blocks there are."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from .conftest import FALLBACK_TEXT, VIP_TEXT, add_article, personalized_block, variant

pytestmark = pytest.mark.django_db

MISSING_IMAGE = 987654


def image_block(n: int) -> dict:
    everyone = variant(f"00000000-0000-0000-0000-0000000000{n:02d}", [], f"SHOWN-{n}")
    everyone["value"]["content"].append({"type": "image", "value": MISSING_IMAGE})
    return personalized_block(everyone)


def image_queries(client, page) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(page.url)
    assert response.status_code == 200
    return sum("wagtailimages_image" in q["sql"] for q in captured.captured_queries)


def test_chooser_content_is_fetched_once_per_page(home, segments, regular):
    one = add_article(home, [image_block(1)], slug="one")
    five = add_article(home, [image_block(n) for n in range(1, 6)], slug="five")
    assert image_queries(regular.client, one) == image_queries(regular.client, five) == 1
    page = regular.client.get(five.url).content.decode()
    assert all(f"SHOWN-{n}" in page for n in range(1, 6))


def test_text_variants_render_the_one_chosen(home, segments, vip, regular):
    page = add_article(
        home,
        [
            personalized_block(
                variant(f"00000000-0000-0000-0000-0000000001{n:02d}", ["vip"], VIP_TEXT)
            )
            for n in range(20)
        ],
        slug="twenty",
    )
    assert vip.client.get(page.url).content.decode().count(VIP_TEXT) == 20
    shown = regular.client.get(page.url).content.decode()
    assert shown.count(FALLBACK_TEXT) == 20 and VIP_TEXT not in shown
