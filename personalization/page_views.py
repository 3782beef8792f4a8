"""Page views behind a page cache: the server's capture and the browser's, each view counted once.

The server records a Wagtail page view before rendering the page (``capture.track_page_view``).
A copy served by a page cache (Django's cache middleware, NGINX, Varnish) never reaches that
code: a visitor who reads a cached article four times had one page view, and behavioural
segments stopped forming on cached sites.

With ``PERSONALIZATION_CACHED_PAGE_VIEWS`` (on by default when Django's cache middleware is
installed) every render gets a random *render id*. The server records its page view under it
(event id ``pv:<render id>``), and ``{% tracker_page_view %}`` writes the id and the page view's
properties into the page, so every copy of that HTML, fresh or cached, carries them. tracker.js
sends a ``page_view`` with ``render_id`` on each load. At ingestion the first such event of the
visitor the server recorded that render for *takes over* the server's record (its key becomes
the event's own, ``absorb_server_views``): that view is counted once, and a retried delivery of
the same event is a duplicate. Every other load (the cached copy again, another visitor's copy)
is a view the server never saw, and is counted.
"""

from __future__ import annotations

import dataclasses
import re
import uuid

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.http import HttpRequest

from .conf import get_setting
from .events.models import Event
from .events.services import idempotency_key
from .types import EventIn

RENDER_ID_PROPERTY = "render_id"
RENDER_ID_RE = re.compile(r"^[0-9a-f]{32}$")
SERVER_ID_PREFIX = "pv:"
# At most this many server records are looked up per batch (one UPDATE each): a page load sends
# one page view, so more in a batch are counted as they come.
MAX_TAKEOVERS_PER_BATCH = 5
PAGE_CACHE_MIDDLEWARE = (
    "django.middleware.cache.UpdateCacheMiddleware",
    "django.middleware.cache.FetchFromCacheMiddleware",
    "django.middleware.cache.CacheMiddleware",
)


def enabled() -> bool:
    """``PERSONALIZATION_CACHED_PAGE_VIEWS``: None (the default) means "when Django's page cache
    is installed"; set True behind NGINX, Varnish or a CDN that caches HTML."""
    if not get_setting("TRACK_PAGE_VIEWS"):
        return False
    value = get_setting("CACHED_PAGE_VIEWS")
    if value is None:
        return any(m in PAGE_CACHE_MIDDLEWARE for m in getattr(settings, "MIDDLEWARE", []))
    return bool(value)


def render_id(request: HttpRequest) -> str:
    """This render's id, made on first use and kept on the request."""
    value = getattr(request, "_pz_render_id", None)
    if value is None:
        value = request._pz_render_id = uuid.uuid4().hex
    return value


def server_event_id(request: HttpRequest) -> str:
    """The client id of the server's own page view of this render."""
    return SERVER_ID_PREFIX + render_id(request)


def page_view_properties(page) -> dict:
    properties = {
        "page_id": page.pk,
        "page_type": page.specific_class._meta.label_lower if page.specific_class else "",
        "title": page.title[:200],
    }
    specific = page.specific_deferred
    extra = getattr(specific, "personalization_properties", None)
    if callable(extra):
        properties.update(extra())
    return properties


def request_page_view_properties(request: HttpRequest, page) -> dict:
    """What a page view of ``page`` in this request says, worked out once per request (the
    capture and the template tag both need it)."""
    cached = getattr(request, "_pz_page_view_properties", None)
    if cached is None or cached[0] != page.pk:
        properties = {**page_view_properties(page), "url": request.get_full_path()[:500]}
        cached = request._pz_page_view_properties = (page.pk, properties)
    return cached[1]


def is_preview(request: HttpRequest) -> bool:
    """Wagtail previews and staff viewing the live page as a segment are not visits."""
    return getattr(request, "is_preview", False) or get_setting("PREVIEW_PARAM") in request.GET


def rendered_page_view(request: HttpRequest | None, page) -> dict | None:
    """What ``{% tracker_page_view %}`` writes into the page: the render id and the page view's
    properties, or None (nothing to write). Written for every visitor, with or without consent,
    bots included: a cached copy is served to whoever comes next."""
    if request is None or page is None or not getattr(page, "pk", None) or not enabled():
        return None
    if is_preview(request):
        return None
    return {
        RENDER_ID_PROPERTY: render_id(request),
        "properties": request_page_view_properties(request, page),
    }


def absorb_server_views(visitor_id: uuid.UUID, events: list[EventIn]) -> tuple[list[EventIn], int]:
    """The events to store, and how many browser page views took over the server's record of
    the same render (reported as duplicates).

    ``render_id`` is removed from the properties it came in. No query unless the batch has a
    page view with a render id; then one UPDATE per render id (at most
    ``MAX_TAKEOVERS_PER_BATCH``), which row locks make safe against a beacon and a fetch of the
    same event arriving at once.
    """
    kept: list[EventIn] = []
    absorbed = 0
    tried: set[str] = set()
    for event in events:
        rid = event.properties.get(RENDER_ID_PROPERTY) if event.type == "page_view" else None
        if rid is None:
            kept.append(event)
            continue
        properties = {k: v for k, v in event.properties.items() if k != RENDER_ID_PROPERTY}
        event = dataclasses.replace(event, properties=properties)
        if (
            isinstance(rid, str)
            and RENDER_ID_RE.match(rid)
            and rid not in tried
            and len(tried) < MAX_TAKEOVERS_PER_BATCH
        ):
            tried.add(rid)
            if _take_over(visitor_id, rid, idempotency_key(event)):
                absorbed += 1
                continue
        kept.append(event)
    return kept, absorbed


def _take_over(visitor_id: uuid.UUID, rid: str, key: str) -> bool:
    """Give the server's record of render ``rid`` the browser event's key; whether there was
    one to take over. Not when an event with that key is stored already (a re-sent event that
    was counted): the insert then finds it a duplicate."""
    server_key = f"c:{SERVER_ID_PREFIX}{rid}"  # idempotency_key() of a client id
    taken = Event.objects.filter(visitor_id=OuterRef("visitor_id"), key=key)
    return bool(
        Event.objects.filter(visitor_id=visitor_id, key=server_key)
        .filter(~Exists(taken))
        .update(key=key)
    )
