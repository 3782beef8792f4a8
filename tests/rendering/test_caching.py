"""Shared caches hold one copy per segment combination: Django's cache middleware as the cache,
keyed on the compact segment key instead of the Cookie header.

Every invariant about invalidation is shown against a copy the cache really holds
(``cached_copy``): a test that only ever sees a visitor's first, private response proves nothing
about what a shared cache serves, since nothing was stored to serve."""

from __future__ import annotations

import pytest

from personalization.profiles.traits import set_traits
from personalization.segments.models import Segment
from personalization.segments.services import save_segment

from ..conftest import IPHONE, Visitor
from .conftest import FALLBACK_TEXT, MOBILE_TEXT, VIP_TEXT

pytestmark = pytest.mark.django_db


def use_page_cache(settings) -> None:
    """The middleware of docs/caching.md: UpdateCacheMiddleware first, SegmentKeyMiddleware
    right after it, FetchFromCacheMiddleware last."""
    middleware = [m for m in settings.MIDDLEWARE if not m.endswith("SegmentKeyMiddleware")]
    settings.MIDDLEWARE = [
        "django.middleware.cache.UpdateCacheMiddleware",
        "personalization.middleware.SegmentKeyMiddleware",
        *middleware,
        "django.middleware.cache.FetchFromCacheMiddleware",
    ]
    settings.CACHE_MIDDLEWARE_SECONDS = 300


@pytest.fixture
def page_cache(settings):
    use_page_cache(settings)
    settings.PERSONALIZATION_TRACK_PAGE_VIEWS = False


def get_key(visitor: Visitor, url: str) -> str:
    """A visit somewhere else on the site, which hands the visitor their segment key."""
    response = visitor.client.get(url)
    return response.cookies["pz_seg"].value


def from_cache(response) -> bool:
    """Whether the cache middleware answered: a cached copy renders no template (the test client
    records every template rendered while answering)."""
    return response.status_code == 200 and not response.templates


def cached_copy(visitor: Visitor, url: str):
    """The visitor's copy of ``url`` as the shared cache holds it.

    A visitor with an id gets their key on a first, private response (not stored), and the
    second request, carrying the key, is answered publicly and stored. A newcomer (no id, no
    cookie) has their key computed on the way in, so their first response is the stored one.
    A last request is then answered from the cache, which this checks, so callers start from a
    copy that is really there to be served.
    """
    first = visitor.client.get(url)
    if "private" in first.headers["Cache-Control"]:
        assert "pz_seg" in first.cookies
        stored = visitor.client.get(url)
        assert not from_cache(stored)
    else:
        assert "pz_vid" not in visitor.client.cookies, "a known visitor's first copy was shared"
        stored = first
    assert "private" not in stored.headers.get("Cache-Control", "") and not stored.cookies
    hit = visitor.client.get(url)
    assert from_cache(hit), "the copy was not stored"
    assert hit.content == stored.content
    return stored


def test_one_cached_copy_per_segment_combination(
    page_cache, article, home, vip, phone, segments, django_assert_num_queries
):
    first = cached_copy(vip, article.url)
    assert VIP_TEXT in first.content.decode()
    assert first.headers["Vary"].split(", ").count("X-Personalization-Key") == 1
    assert "Cookie" not in first.headers["Vary"]

    other = cached_copy(phone, article.url)
    assert MOBILE_TEXT in other.content.decode() and VIP_TEXT not in other.content.decode()
    assert other.headers["X-Personalization-Key"] != first.headers["X-Personalization-Key"]

    # A second VIP who has been on the site before (so carries the key) gets the first copy
    # from the cache: not a single query is run for it.
    second_vip = Visitor()
    second_vip.consent(analytics=True, personalization=True)
    set_traits(second_vip.id, {"tier": "vip"})
    assert get_key(second_vip, home.url) == first.headers["X-Personalization-Key"]
    with django_assert_num_queries(0):
        cached = second_vip.client.get(article.url)
    assert from_cache(cached) and cached.content == first.content

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


def test_the_key_selects_a_copy_but_a_forged_key_selects_none(page_cache, article, vip, phone):
    key = cached_copy(vip, article.url).headers["X-Personalization-Key"]

    # A phone visitor presenting the real VIP key by hand is served the cached VIP copy: the key
    # is a bearer token for content, which is why segments are for personalization, not access
    # control. (This also shows the copy is there to be served to a forged key.)
    phone.client.cookies["pz_seg"] = key
    borrowed = phone.client.get(article.url)
    assert from_cache(borrowed) and VIP_TEXT in borrowed.content.decode()

    # A key with one character of its mac changed matches nothing: a fresh, private page.
    phone.client.cookies["pz_seg"] = key[:-1] + ("0" if key[-1] != "0" else "1")
    forged = phone.client.get(article.url)
    assert not from_cache(forged)
    assert MOBILE_TEXT in forged.content.decode() and VIP_TEXT not in forged.content.decode()
    assert "private" in forged.headers["Cache-Control"]


def test_editing_a_segment_makes_cached_copies_unreachable(page_cache, article, vip, segments):
    stale = cached_copy(vip, article.url)
    key = stale.headers["X-Personalization-Key"]
    assert VIP_TEXT in stale.content.decode()

    # The VIP segment now wants another tier: the visitor has left it, but still holds the key
    # of the copy made while they were in it.
    segment = segments["vip"]
    segment.rules = {"type": "trait", "params": {"name": "tier", "op": "equals", "value": "gold"}}
    save_segment(segment)
    vip.client.cookies["pz_seg"] = key
    fresh = vip.client.get(article.url)
    assert not from_cache(fresh)
    assert fresh.headers["X-Personalization-Key"] != key
    assert FALLBACK_TEXT in fresh.content.decode() and VIP_TEXT not in fresh.content.decode()


def test_an_edit_that_moves_nobody_still_retires_the_old_keys(page_cache, article, vip, segments):
    key = cached_copy(vip, article.url).headers["X-Personalization-Key"]
    segment = segments["mobile"]
    segment.description = "edited"
    save_segment(segment)
    vip.client.cookies["pz_seg"] = key
    fresh = vip.client.get(article.url)
    assert not from_cache(fresh)
    assert fresh.headers["X-Personalization-Key"] != key
    assert "private" in fresh.headers["Cache-Control"]  # the new key comes as a cookie
    assert fresh.cookies["pz_seg"].value == fresh.headers["X-Personalization-Key"]


def test_a_key_with_a_forged_mac_is_not_honoured(page_cache, article, vip, phone, segments):
    """The key's mac is verified before the key reaches the cache lookup: a key the site never
    issued (here: a real version tag and set, a made-up mac) cannot select a cached copy, even
    one that a misbehaving shared cache holds under it."""
    from django.conf import settings
    from django.core.cache import caches
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.utils.cache import learn_cache_key, patch_vary_headers

    key = cached_copy(vip, article.url).headers["X-Personalization-Key"]
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
    # The genuine key is still honoured, from the cache.
    genuine = Visitor().client.get(article.url, HTTP_X_PERSONALIZATION_KEY=key)
    assert from_cache(genuine) and VIP_TEXT in genuine.content.decode()


def test_editing_content_invalidates_cached_pages_by_version(page_cache, article, vip):
    before = cached_copy(vip, article.url)
    key = before.headers["X-Personalization-Key"]
    assert VIP_TEXT in before.content.decode()
    body = article.body.raw_data
    body[1]["value"]["variants"][0]["value"]["content"][0]["value"] = "NEW-VIP-OFFER"
    article.body = body
    article.save_revision().publish()
    vip.client.cookies["pz_seg"] = key
    after = vip.client.get(article.url)
    assert not from_cache(after)
    assert "NEW-VIP-OFFER" in after.content.decode()
    assert after.headers["X-Personalization-Key"] != key


def test_logged_in_users_bypass_the_shared_copy(page_cache, article, phone, django_user_model):
    key = cached_copy(phone, article.url).headers["X-Personalization-Key"]
    user = django_user_model.objects.create_user("reader", password="pw")
    phone.client.force_login(user)
    phone.client.cookies["pz_seg"] = key
    response = phone.client.get(article.url)
    assert not from_cache(response)
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
    key = cached_copy(vip, article.url).headers["X-Personalization-Key"]
    segments["vip"].status = Segment.Status.DISABLED
    save_segment(segments["vip"])
    response = vip.client.get(article.url)
    assert not from_cache(response)
    assert response.headers["X-Personalization-Key"] != key
    assert FALLBACK_TEXT in response.content.decode()


def test_deleting_a_segment_changes_the_keys(page_cache, article, phone, segments):
    key = cached_copy(phone, article.url).headers["X-Personalization-Key"]
    segments["vip"].delete()
    response = phone.client.get(article.url)
    assert not from_cache(response)
    assert response.headers["X-Personalization-Key"] != key


def test_a_header_key_from_a_headless_server_gets_no_cookie(page_cache, article, segments):
    from django.test import Client

    url = f"/api/v2/pages/{article.pk}/?fields=body"
    key = Client().get(url).headers["X-Personalization-Key"]
    again = Client().get(url, HTTP_X_PERSONALIZATION_KEY=key)
    assert again.headers["X-Personalization-Key"] == key
    assert not again.cookies
    assert "private" not in again.headers.get("Cache-Control", "")
