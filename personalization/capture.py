"""Capturing events on the server: Wagtail page views (no JavaScript needed) and server code."""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from django.utils import timezone

from .conf import get_setting
from .consent.services import may_collect_events
from .events.validation import validate_event
from .ingestion import ingest_events
from .page_views import (
    is_preview,
    page_view_properties,  # noqa: F401 - kept importable from here
    request_page_view_properties,
    server_event_id,
)
from .profiles.snapshot import ProfileSnapshot, get_snapshot
from .types import EventIn, IngestResult, RequestContext
from .visitors import (
    ensure_visitor_id,
    forget_visitor,
    may_use_profile,
    request_context,
    visitor_id_from_request,
)


def track_event(
    request: HttpRequest, event_type: str, properties: dict | None = None
) -> IngestResult:
    """Record an event from server code (a Django view that completes an order, say).

    Validated like an API event and gated like one: nothing is stored for bots, DNT/GPC or a
    visitor without consent. Raises ``EventError`` naming the field for a malformed event.
    """
    event = validate_event({"type": event_type, "properties": properties or {}})
    context = request_context(request)
    visitor_id, snapshot = _collecting(request, context)
    if visitor_id is None:
        return IngestResult(ignored=1, ignored_reason="no_consent")
    return ingest_events(
        visitor_id, [event], context, snapshot=snapshot, content_version=_known_version(request)
    )


def _known_version(request: HttpRequest) -> str | None:
    """The content version this request already read (the visitor context keeps it on the
    request), so ingestion need not read it again."""
    versions = getattr(request, "_pz_versions", None)
    return versions[1] if versions else None


def _collecting(
    request: HttpRequest, context: RequestContext
) -> tuple[uuid.UUID | None, ProfileSnapshot | None]:
    """``collecting_visitor_id`` for the server's own captures: a cookie that reaches an account's
    profile without its session is dropped first, so its page views do not land in the account.
    The snapshot read for that check is handed on to ingestion (no extra round trip)."""
    visitor_id = visitor_id_from_request(request)
    if visitor_id is not None:
        snapshot = get_snapshot(visitor_id)
        if may_use_profile(request, snapshot):
            return visitor_id, snapshot
        forget_visitor(request)
    return collecting_visitor_id(request, context), None


def collecting_visitor_id(request: HttpRequest, context: RequestContext) -> uuid.UUID | None:
    """The id to record events under: the visitor's own, or a new one (and its cookie) when
    the site's defaults allow collecting from visitors who have not answered yet.

    None means nothing may be stored; ``ingest_events`` still checks a known visitor's consent.
    """
    visitor_id = visitor_id_from_request(request)
    if visitor_id is not None:
        return visitor_id
    if context.is_bot or not may_collect_events({}, dnt=context.dnt, gpc=context.gpc):
        return None
    return ensure_visitor_id(request)


def track_page_view(request: HttpRequest, page) -> None:
    """Record a page view for a visitor who allows it; do nothing (and write nothing) otherwise.

    Previews and staff editing are not visits, and bots and DNT/GPC browsers are skipped before
    any id is minted.
    """
    if not get_setting("TRACK_PAGE_VIEWS") or request.method != "GET":
        return
    if is_preview(request):
        return  # Wagtail previews, and staff viewing the live page as a segment
    context = request_context(request)
    if context.is_bot:
        return
    visitor_id, snapshot = _collecting(request, context)
    if visitor_id is None:
        return
    # Under this render's id: the browser's report of the same render takes this record over
    # instead of counting again (page_views.py; cached copies carry the id too).
    event = EventIn(
        type="page_view",
        timestamp=timezone.now(),
        properties=request_page_view_properties(request, page),
        client_id=server_event_id(request),
    )
    ingest_events(
        visitor_id,
        [event],
        context,
        snapshot=snapshot,
        content_version=_known_version(request),
        fold_small_in_request=False,  # the page is being served: its fold goes to the workers
    )
