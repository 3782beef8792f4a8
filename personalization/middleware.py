"""Middleware: the visitor cookie, and the segment key that lets shared caches hold one copy of
a personalized page per segment combination."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import http_date

from .conf import get_setting
from .context import context_was_used, key_is_current, newcomer_key, request_versions
from .visitors import apply_visitor_cookie, has_session_cookie


class VisitorMiddleware:
    """Place after ``AuthenticationMiddleware``.

    It never touches ``request.session``, so anonymous visitors get no session cookie and page
    caches keep working.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The site's (lazy) user, kept before DRF replaces request.user with the API caller:
        # who the visitor is comes from the site's login, what they may do from DRF.
        request._pz_site_user = getattr(request, "user", None)
        response = self.get_response(request)
        apply_visitor_cookie(request, response)
        return response


def _meta_name(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


class SegmentKeyMiddleware:
    """Makes personalized responses cacheable per segment combination.

    Place it first in ``MIDDLEWARE``, or right after Django's ``UpdateCacheMiddleware``, and
    above ``SessionMiddleware``:

    * On the way in, the visitor's key (the ``pz_seg`` cookie, or the header a CDN or headless
      frontend forwards) becomes the request header the cache looks up, if it is current.
      Stale keys (a segment, variant or page changed since) and logged-in requests (they carry
      a session cookie) are dropped, so they miss the cache and get a fresh page. A newcomer
      (no key, no visitor id, no session) has their key computed here instead: it depends on
      the request alone, and so they can be served a shared copy without any cookie.
    * On the way out, a response that used the visitor's segments gets ``Vary`` on that header
      instead of on ``Cookie`` and the key as a response header. A visitor with an id (who has
      answered the consent banner) who did not present the right key gets it as a cookie, on a
      private response: shared copies are only made from requests that carried their key, so
      none of them carries a Set-Cookie, and a key lives at most ``SEGMENT_KEY_MAX_AGE`` seconds
      after it was last computed. A visitor without an id never gets the cookie: the README
      promises no cookie before consent.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = get_setting("SEGMENT_KEY_HEADER")
        cookie = get_setting("SEGMENT_KEY_COOKIE")
        meta = _meta_name(header)
        incoming = request.META.pop(meta, "") or request.COOKIES.get(cookie, "")
        if (
            incoming
            and not has_session_cookie(request)
            and key_is_current(incoming, request_versions(request))
        ):
            request.META[meta] = incoming
        elif not incoming and _is_newcomer(request):
            incoming = request.META[meta] = newcomer_key(request)
        response = self.get_response(request)
        if getattr(request, "_pz_private", False):
            patch_cache_control(response, private=True)
        context = context_was_used(request)
        if context is None:
            return response
        if context.preview:
            patch_cache_control(response, private=True, no_store=True)
            return response
        if has_session_cookie(request):
            patch_cache_control(response, private=True)
            return response
        request.META[meta] = context.key  # the key a cache middleware stores this copy under
        patch_vary_headers(response, [header])
        response[header] = context.key
        if incoming != context.key:
            # Only a response to a request that already carried the right key may be shared, so
            # no stored copy ever carries a Set-Cookie (which would extend other visitors' keys).
            patch_cache_control(response, private=True)
            if context.visitor_id is not None:
                max_age = get_setting("SEGMENT_KEY_MAX_AGE")
                response.set_cookie(
                    cookie,
                    context.key,
                    expires=http_date(time.time() + max_age),
                    secure=get_setting("COOKIE_SECURE") or request.is_secure(),
                    httponly=True,
                    samesite=get_setting("COOKIE_SAMESITE"),
                )
        _drop_vary_cookie(response, allowed_cookies={cookie})
        return response


# (URLconf, script prefix) -> the API's prefix there: reversing costs ~30 us on every request.
_api_prefixes: dict[tuple[str, str], str | None] = {}


def _api_prefix() -> str | None:
    """Where the personalization API is mounted (None if the host has not mounted it)."""
    key = (str(get_urlconf() or settings.ROOT_URLCONF), get_script_prefix())
    try:
        return _api_prefixes[key]
    except KeyError:
        pass
    try:
        prefix = reverse("personalization_api:events").rsplit("events", 1)[0]
    except NoReverseMatch:
        prefix = None
    _api_prefixes[key] = prefix
    return prefix


def _is_api(request: HttpRequest) -> bool:
    prefix = _api_prefix()
    return prefix is not None and request.path.startswith(prefix)


def _is_newcomer(request: HttpRequest) -> bool:
    """A page request from someone the site knows nothing about: no visitor cookie or header,
    no session. Their segments can only come from the request itself. The API's answers are
    never shared copies, so its requests need no key (nor the segment definitions it costs)."""
    return (
        request.method in ("GET", "HEAD")
        and not _is_api(request)
        and not has_session_cookie(request)
        and get_setting("COOKIE_NAME") not in request.COOKIES
        and not request.headers.get(get_setting("VISITOR_HEADER"))
    )


def _drop_vary_cookie(response: HttpResponse, *, allowed_cookies: set[str]) -> None:
    """An anonymous request (no session cookie) cannot depend on session contents, so
    ``Vary: Cookie`` added because the session was merely looked at is dropped, unless the
    response sets a cookie of its own (a CSRF token, say): those responses stay per visitor."""
    if any(name not in allowed_cookies for name in response.cookies):
        return
    vary = [v.strip() for v in response.get("Vary", "").split(",") if v.strip()]
    kept = [v for v in vary if v.lower() != "cookie"]
    if len(kept) != len(vary):
        response["Vary"] = ", ".join(kept)
