"""Editors preview pages as a segment: in Wagtail's preview, and on the live site (staff only)."""

from __future__ import annotations

import pytest

from .conftest import FALLBACK_TEXT, MOBILE_TEXT, VIP_TEXT

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(client, django_user_model):
    user = django_user_model.objects.create_superuser("editor", "e@example.com", "pw")
    client.force_login(user)
    return client


def test_preview_modes_list_the_segments_and_render_as_one(article):
    modes = dict(article.preview_modes)
    assert "segments:vip" in modes and "segments:mobile" in modes and "" in modes
    assert VIP_TEXT in article.make_preview_request(preview_mode="segments:vip").content.decode()
    combo = article.make_preview_request(preview_mode="segments:mobile,vip").content.decode()
    assert VIP_TEXT in combo and MOBILE_TEXT not in combo  # the first matching variant wins
    nobody = article.make_preview_request(preview_mode="segments:").content.decode()
    assert FALLBACK_TEXT in nobody and VIP_TEXT not in nobody


def test_staff_view_the_live_page_as_a_segment(article, editor):
    response = editor.get(article.url, {"pz_preview": "vip"})
    assert VIP_TEXT in response.content.decode()
    assert "no-store" in response.headers["Cache-Control"]
    assert "pz_seg" not in response.cookies
    mobile = editor.get(article.url, {"pz_preview": "mobile,unknown"}).content.decode()
    assert MOBILE_TEXT in mobile
    assert FALLBACK_TEXT in editor.get(article.url, {"pz_preview": "-"}).content.decode()


def test_the_userbar_offers_the_segments_to_staff_only(article, editor, client):
    page = editor.get(article.url).content.decode()
    assert "?pz_preview=vip" in page and "View as" in page
    editor.logout()
    assert "pz_preview" not in client.get(article.url).content.decode()


def test_visitors_cannot_preview(article, phone):
    page = phone.client.get(article.url, {"pz_preview": "vip"}).content.decode()
    assert MOBILE_TEXT in page and VIP_TEXT not in page
