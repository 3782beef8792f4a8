"""Capturing events on the server: Wagtail page views (no JavaScript needed) and server code."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from .conf import get_setting
from .consent.purposes import EVENT_PURPOSES
from .consent.services import effective_consent
from .events.validation import validate_event
from .ingestion import ingest_events
from .profiles.snapshot import get_snapshot
from .types import EventIn, IngestResult
from .visitors import ensure_visitor_id, request_context, visitor_id_from_request


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


def track_event(
    request: HttpRequest, event_type: str, properties: dict | None = None
) -> IngestResult:
    """Record an event from server code (a Django view that completes an order, say).

    Validated like an API event and gated like one: nothing is stored for bots, DNT/GPC or a
    visitor without consent. Raises ``EventError`` naming the field for a malformed event.
    """
    event = validate_event({"type": event_type, "properties": properties or {}})
    context = request_context(request)
    visitor_id = visitor_id_from_request(request)
    if visitor_id is None:
        if context.is_bot or not _may_collect({}, context):
            return IngestResult(ignored=1, ignored_reason="no_consent")
        visitor_id = ensure_visitor_id(request)
    return ingest_events(visitor_id, [event], context)


def _may_collect(explicit: dict, context) -> bool:
    consent = effective_consent(explicit, dnt=context.dnt, gpc=context.gpc)
    return any(consent[p] for p in EVENT_PURPOSES)


def track_page_view(request: HttpRequest, page) -> None:
    """Record a page view for a visitor who allows it; do nothing (and write nothing) otherwise.

    Previews and staff editing are not visits, and bots and DNT/GPC browsers are skipped before
    any id is minted.
    """
    if not get_setting("TRACK_PAGE_VIEWS") or request.method != "GET":
        return
    if getattr(request, "is_preview", False):
        return
    context = request_context(request)
    if context.is_bot:
        return
    visitor_id = visitor_id_from_request(request)
    if not _may_collect(get_snapshot(visitor_id).consent if visitor_id else {}, context):
        return
    visitor_id = visitor_id or ensure_visitor_id(request)
    event = EventIn(
        type="page_view",
        timestamp=timezone.now(),
        properties={**page_view_properties(page), "url": request.get_full_path()[:500]},
    )
    ingest_events(visitor_id, [event], context)
