"""Shared caches hold one copy per segment combination: Django's cache middleware as the cache,
keyed on the compact segment key instead of the Cookie header."""

from __future__ import annotations

import pytest

from personalization.segments.models import Segment
from personalization.segments.services import save_segment

from ..conftest import IPHONE, Visitor
from .conftest import FALLBACK_TEXT, MOBILE_TEXT, VIP_TEXT

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_cache(settings):
    middleware = [m for m in settings.MIDDLEWARE if not m.endswith("SegmentKeyMiddleware")]
    settings.MIDDLEWARE = [
        "django.middleware.cache.UpdateCacheMiddleware",
        "personalization.middleware.SegmentKeyMiddleware",
        *middleware,
        "django.middleware.cache.FetchFromCacheMiddleware",
    ]
    settings.CACHE_MIDDLEWARE_SECONDS = 300
    settings.PERSONALIZATION_TRACK_PAGE_VIEWS = False


def get_key(visitor: Visitor, url: str) -> str:
    """A visit somewhere else on the site, which hands the visitor their segment key."""
    response = visitor.client.get(url)
    return response.cookies["pz_seg"].value


def test_one_cached_copy_per_segment_combination(
    page_cache, article, home, vip, phone, segments, django_assert_num_queries
):
    # The visitor's first response hands them their key, privately; the next one, to a request
    # that carries the key, is the copy the cache keeps (and it sets no cookie).
    keyless = vip.client.get(article.url)
    assert "private" in keyless.headers["Cache-Control"] and "pz_seg" in keyless.cookies
    first = vip.client.get(article.url)
    assert VIP_TEXT in first.content.decode()
    assert "private" not in first.headers.get("Cache-Control", "") and not first.cookies
    assert first.headers["Vary"].split(", ").count("X-Personalization-Key") == 1
    assert "Cookie" not in first.headers["Vary"]

    phone.client.get(article.url)
    other = phone.client.get(article.url)
    assert MOBILE_TEXT in other.content.decode() and VIP_TEXT not in other.content.decode()
    assert other.headers["X-Personalization-Key"] != first.headers["X-Personalization-Key"]

    # A second VIP who has been on the site before (so carries the key) gets the first copy
    # from the cache: not a single query is run for it.
    second_vip = Visitor()
    second_vip.consent(analytics=True, personalization=True)
    from personalization.profiles.traits import set_traits

    set_traits(second_vip.id, {"tier": "vip"})
    assert get_key(second_vip, home.url) == first.headers["X-Personalization-Key"]
    with django_assert_num_queries(0):
        cached = second_vip.client.get(article.url)
    assert cached.content == first.content

    # A third visitor in neither segment must not get either copy.
    stranger = Visitor()
    page = stranger.client.get(article.url).content.decode()
    assert FALLBACK_TEXT in page and VIP_TEXT not in page and MOBILE_TEXT not in page


def test_newcomers_share_a_cached_copy_without_any_cookie(
    page_cache, article, segments, django_assert_num_queries
):
    """A visitor the site knows nothing about has their key computed from the request on the
    way in: their first page is shareable and sets no cookie, and the next newcomer gets it
    from the cache."""
    first = Visitor().client.get(article.url)
    assert not first.cookies
    assert "private" not in first.headers.get("Cache-Control", "")
    with django_assert_num_queries(0):
        second = Visitor().client.get(article.url)
    assert second.content == first.content and not second.cookies
    # A newcomer on a phone is in another combination: not the desktop copy.
    assert MOBILE_TEXT in Visitor(user_agent=IPHONE).client.get(article.url).content.decode()


def test_a_forged_or_stale_key_never_hits_a_copy(page_cache, article, home, vip, phone, segments):
    vip_copy = vip.client.get(article.url)
    key = vip_copy.headers["X-Personalization-Key"]

    # A phone visitor presenting the VIP key by hand is served... the cached VIP copy: the key
    # is a bearer token for content, which is why segments are for personalization, not access
    # control. A made-up key, though, matches nothing.
    phone.client.cookies["pz_seg"] = key[:-1] + ("0" if key[-1] != "0" else "1")
    assert MOBILE_TEXT in phone.client.get(article.url).content.decode()

    # Editing a segment changes every key: the old copy is no longer served.
    segment = segments["mobile"]
    segment.description = "edited"
    save_segment(segment)
    vip.client.cookies["pz_seg"] = key
    fresh = vip.client.get(article.url)
    assert fresh.headers["X-Personalization-Key"] != key
    assert VIP_TEXT in fresh.content.decode()


def test_a_key_with_a_forged_mac_is_not_honoured(page_cache, article, vip, phone, segments):
    """The key's mac is verified before the key reaches the cache lookup: a key the site never
    issued (here: a real version tag and set, a made-up mac) cannot select a cached copy, even
    one that a misbehaving shared cache holds under it."""
    from django.conf import settings
    from django.core.cache import caches
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.utils.cache import learn_cache_key, patch_vary_headers

    key = vip.client.get(article.url).headers["X-Personalization-Key"]
    tag, segment_set, mac = key.split(".")
    forged = f"{tag}.{segment_set}.{'0' * len(mac)}"
    assert forged != key
    # A copy stored under the forged key, as a cache keyed on the raw header would hold it.
    request = RequestFactory().get(article.url, HTTP_X_PERSONALIZATION_KEY=forged)
    poisoned = HttpResponse("POISONED COPY")
    patch_vary_headers(poisoned, ["X-Personalization-Key"])
    store = caches[settings.CACHE_MIDDLEWARE_ALIAS]
    cache_key = learn_cache_key(
        request, poisoned, 300, settings.CACHE_MIDDLEWARE_KEY_PREFIX, cache=store
    )
    store.set(cache_key, poisoned, 300)

    response = phone.client.get(article.url, HTTP_X_PERSONALIZATION_KEY=forged)
    assert b"POISONED" not in response.content
    assert MOBILE_TEXT in response.content.decode()
    assert "private" in response.headers["Cache-Control"]  # answered fresh, not shared
    # The genuine key is still honoured.
    assert vip.client.get(article.url, HTTP_X_PERSONALIZATION_KEY=key).status_code == 200


def test_editing_content_invalidates_cached_pages_by_version(page_cache, article, vip):
    before = vip.client.get(article.url)
    assert VIP_TEXT in before.content.decode()
    body = article.body.raw_data
    body[1]["value"]["variants"][0]["value"]["content"][0]["value"] = "NEW-VIP-OFFER"
    article.body = body
    article.save_revision().publish()
    vip.client.cookies["pz_seg"] = before.headers["X-Personalization-Key"]
    after = vip.client.get(article.url)
    assert "NEW-VIP-OFFER" in after.content.decode()


def test_logged_in_users_bypass_the_shared_copy(page_cache, article, phone, django_user_model):
    anonymous = phone.client.get(article.url)
    user = django_user_model.objects.create_user("reader", password="pw")
    phone.client.force_login(user)
    phone.client.cookies["pz_seg"] = anonymous.headers["X-Personalization-Key"]
    response = phone.client.get(article.url)
    assert "private" in response.headers["Cache-Control"]
    assert "Cookie" in response.headers["Vary"]


def test_a_response_that_sets_the_visitor_cookie_is_private(page_cache, article, segments):
    visitor = Visitor()
    response = visitor.client.post(
        "/api/personalization/v1/consent", {"purposes": {"analytics": True}}, format="json"
    )
    assert "pz_vid" in response.cookies
    assert "private" in response.headers["Cache-Control"]


def test_disabled_segments_drop_out_of_the_key(page_cache, article, vip, segments):
    key = vip.client.get(article.url).headers["X-Personalization-Key"]
    segments["vip"].status = Segment.Status.DISABLED
    save_segment(segments["vip"])
    response = vip.client.get(article.url)
    assert response.headers["X-Personalization-Key"] != key
    assert FALLBACK_TEXT in response.content.decode()


def test_deleting_a_segment_changes_the_keys(page_cache, article, phone, segments):
    key = phone.client.get(article.url).headers["X-Personalization-Key"]
    segments["vip"].delete()
    assert phone.client.get(article.url).headers["X-Personalization-Key"] != key


def test_a_header_key_from_a_headless_server_gets_no_cookie(page_cache, article, segments):
    from django.test import Client

    url = f"/api/v2/pages/{article.pk}/?fields=body"
    key = Client().get(url).headers["X-Personalization-Key"]
    again = Client().get(url, HTTP_X_PERSONALIZATION_KEY=key)
    assert again.headers["X-Personalization-Key"] == key
    assert not again.cookies
    assert "private" not in again.headers.get("Cache-Control", "")
