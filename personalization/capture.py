"""Server-side capture of Wagtail page views, so the basics need no JavaScript."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from .conf import get_setting
from .consent.purposes import EVENT_PURPOSES
from .consent.services import effective_consent
from .ingestion import ingest_events
from .profiles.snapshot import get_snapshot
from .types import EventIn
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
    explicit = get_snapshot(visitor_id).consent if visitor_id else {}
    consent = effective_consent(explicit, dnt=context.dnt, gpc=context.gpc)
    if not any(consent[p] for p in EVENT_PURPOSES):
        return
    visitor_id = visitor_id or ensure_visitor_id(request)
    event = EventIn(
        type="page_view",
        timestamp=timezone.now(),
        properties={**page_view_properties(page), "url": request.get_full_path()[:500]},
    )
    ingest_events(visitor_id, [event], context)
