"""Personalized blocks on pages and in Wagtail's pages API: each visitor gets exactly their
variant, and no response ever carries another segment's content."""

from __future__ import annotations

import pytest
from django.test import Client
from wagtail.search.index import insert_or_update_object

from ..conftest import Visitor
from .conftest import (
    FALLBACK_TEXT,
    MOBILE_TEXT,
    MOBILE_VARIANT,
    VIP_TEXT,
    VIP_VARIANT,
    add_article,
    personalized_block,
    standard_block,
    variant,
)

pytestmark = pytest.mark.django_db

ALL_TEXTS = {VIP_TEXT, MOBILE_TEXT, FALLBACK_TEXT}


def only(content: str, expected: str) -> None:
    assert expected in content
    for other in ALL_TEXTS - {expected}:
        assert other not in content, f"{other} leaked"


def test_each_visitor_sees_their_variant_on_the_page(article, vip, regular, phone):
    only(vip.client.get(article.url).content.decode(), VIP_TEXT)
    only(regular.client.get(article.url).content.decode(), FALLBACK_TEXT)
    only(phone.client.get(article.url).content.decode(), MOBILE_TEXT)


def test_first_matching_variant_wins_in_editor_order(home, segments, vip, phone):
    # The VIP visitor browsing on a phone is in both segments: order decides, not priority.
    page = add_article(
        home,
        [
            personalized_block(
                variant(MOBILE_VARIANT, ["mobile"], MOBILE_TEXT),
                variant(VIP_VARIANT, ["vip"], VIP_TEXT),
            )
        ],
    )
    response = vip.client.get(page.url, HTTP_USER_AGENT=phone.client.defaults["HTTP_USER_AGENT"])
    only(response.content.decode(), MOBILE_TEXT)
    only(vip.client.get(page.url).content.decode(), VIP_TEXT)


def test_match_all_and_schedules(home, segments, vip, phone):
    iphone = phone.client.defaults["HTTP_USER_AGENT"]
    page = add_article(
        home,
        [
            personalized_block(
                variant(VIP_VARIANT, ["vip", "mobile"], VIP_TEXT, match="all"),
                variant(MOBILE_VARIANT, [], MOBILE_TEXT, end="2001-01-01T00:00:00Z"),
            )
        ],
    )
    only(vip.client.get(page.url).content.decode(), FALLBACK_TEXT)  # vip but not on a phone
    only(vip.client.get(page.url, HTTP_USER_AGENT=iphone).content.decode(), VIP_TEXT)
    only(phone.client.get(page.url).content.decode(), FALLBACK_TEXT)  # everyone-variant expired


def test_pages_api_resolves_the_block_per_visitor_and_never_leaks(article, vip, regular, phone):
    detail = f"/api/v2/pages/{article.pk}/?fields=body"
    listing = "/api/v2/pages/?type=demo.ArticlePage&fields=*"

    body = vip.client.get(detail).json()["body"]
    block = next(b for b in body if b["type"] == "personalized")
    assert block["value"]["variant"] == VIP_VARIANT
    assert block["value"]["content"] == [
        {"type": "heading", "value": VIP_TEXT, "id": block["value"]["content"][0]["id"]}
    ]
    for url in (detail, listing, f"/api/v2/pages/{article.pk}/"):
        only(vip.client.get(url).content.decode(), VIP_TEXT)
        only(regular.client.get(url).content.decode(), FALLBACK_TEXT)
        only(phone.client.get(url).content.decode(), MOBILE_TEXT)
        only(Client().get(url).content.decode(), FALLBACK_TEXT)


def test_headless_callers_name_the_visitor_with_the_signed_header(article, vip):
    server = Client()  # a frontend's server: no cookies of the visitor
    detail = f"/api/v2/pages/{article.pk}/?fields=body"
    only(server.get(detail, HTTP_X_VISITOR_ID=vip.token).content.decode(), VIP_TEXT)
    forged = vip.token.split(":")[0] + ":forged"
    only(server.get(detail, HTTP_X_VISITOR_ID=forged).content.decode(), FALLBACK_TEXT)


def test_search_indexes_only_the_default_content(article):
    # Wagtail 7.0 indexes after commit (django-tasks), and a test's transaction never commits.
    insert_or_update_object(article)
    found = Client().get("/api/v2/pages/", {"search": VIP_TEXT}).json()
    assert found["meta"]["total_count"] == 0
    found = Client().get("/api/v2/pages/", {"search": FALLBACK_TEXT}).json()
    assert [p["id"] for p in found["items"]] == [article.pk]


def test_query_count_does_not_grow_with_blocks_or_segments(home, segments, vip, settings):
    settings.PERSONALIZATION_TRACK_PAGE_VIEWS = False  # measure rendering, not ingestion
    from .conftest import make_segment

    for i in range(48):
        make_segment(
            f"extra-{i}",
            {"type": "trait", "params": {"name": "n", "op": "equals", "value": str(i)}},
        )
    one = add_article(home, [standard_block()], slug="one")
    twenty = add_article(home, [standard_block() for _ in range(20)], slug="twenty")
    vip.client.get(one.url)  # warm the caches (snapshot, compiled definitions)
    vip.client.get(twenty.url)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert VIP_TEXT in vip.client.get(one.url).content.decode()
    with CaptureQueriesContext(connection) as large:
        assert vip.client.get(twenty.url).content.decode().count(VIP_TEXT) == 20
    # The personalization itself costs no query on a warm cache: whatever Wagtail does to
    # route and load the page is all there is, and it is the same for 1 block and 20.
    assert len(large) == len(small)
    ours = [q["sql"] for q in large.captured_queries if "personalization_" in q["sql"]]
    assert ours == []


def test_anonymous_visitors_get_no_session_and_no_vary_cookie(article, phone):
    response = phone.client.get(article.url)
    assert "sessionid" not in response.cookies
    vary = response.headers.get("Vary", "")
    assert "Cookie" not in vary
    assert "X-Personalization-Key" in vary
    assert not response.cookies  # no consent yet: no cookie at all, not even the segment key


def test_no_cookie_before_consent_and_the_key_cookie_after(article, segments):
    """The README's promise: a fresh visitor's pages set no cookie; once they have answered
    the consent banner their pages hand them the segment key (``pz_seg``)."""
    visitor = Visitor()
    for _ in range(2):
        response = visitor.client.get(article.url)
        assert response.status_code == 200
        assert not response.cookies, dict(response.cookies)
    visitor.consent(analytics=True, personalization=True)
    response = visitor.client.get(article.url)
    assert response.cookies["pz_seg"].value == response.headers["X-Personalization-Key"]


def test_profile_segments_need_personalization_consent(article, vip):
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"
    vip.consent(analytics=True, personalization=False)
    only(vip.client.get(article.url).content.decode(), FALLBACK_TEXT)
    # Request-only personalization still works without consent.
    only(vip.client.get(article.url, HTTP_USER_AGENT=iphone).content.decode(), MOBILE_TEXT)
    vip.consent(analytics=True, personalization=True)
    only(vip.client.get(article.url).content.decode(), VIP_TEXT)
    only(vip.client.get(article.url, HTTP_DNT="1").content.decode(), FALLBACK_TEXT)


def test_a_stale_account_cookie_on_a_page_is_no_key_to_the_account(article, django_user_model):
    """A pre-login token (or a cookie that outlived its session) of a profile now owned by an
    account neither personalizes pages with the account's segments nor adds page views to it."""
    from personalization.profiles.models import VisitorProfile
    from personalization.profiles.traits import set_traits

    django_user_model.objects.create_user("carol", password="pw-carol-123")
    laptop = Visitor()
    laptop.consent(analytics=True, personalization=True)
    laptop.send({"type": "signup"})
    set_traits(laptop.id, {"tier": "vip"})
    login = laptop.client.post(
        "/accounts/login/", {"username": "carol", "password": "pw-carol-123"}
    )
    assert login.status_code == 302
    assert VisitorProfile.objects.get(visitor_id=laptop.id).user.username == "carol"
    assert VIP_TEXT in laptop.client.get(article.url).content.decode()  # carol, signed in

    stranger = Visitor()
    stranger.client.cookies["pz_vid"] = laptop.token
    before = VisitorProfile.objects.get(visitor_id=laptop.id).event_count
    response = stranger.client.get(article.url)
    assert VIP_TEXT not in response.content.decode()
    assert FALLBACK_TEXT in response.content.decode()
    assert response.cookies["pz_vid"].value == ""  # the stale cookie is dropped
    assert VisitorProfile.objects.get(visitor_id=laptop.id).event_count == before
