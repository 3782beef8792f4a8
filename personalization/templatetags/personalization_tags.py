"""Template tags. Every tag reads the one per-request visitor id and the cached snapshot."""

from __future__ import annotations

from django import template

from ..consent.purposes import PERSONALIZATION
from ..consent.services import effective_consent
from ..profiles.snapshot import get_snapshot
from ..segments import services as segment_services
from ..visitors import request_context, user_facts, visitor_id_from_request

register = template.Library()


@register.simple_tag(takes_context=True)
def visitor_profile(context) -> dict | None:
    """``{% visitor_profile as profile %}``: the visitor's own profile, if they allow profiling.

    Returns None for visitors without an id or without personalization consent, so templates
    fall back to default content.
    """
    request = context.get("request")
    if request is None:
        return None
    visitor_id = visitor_id_from_request(request)
    if visitor_id is None:
        return None
    snapshot = get_snapshot(visitor_id)
    ctx = request_context(request)
    if (
        not snapshot.exists
        or not effective_consent(snapshot.consent, dnt=ctx.dnt, gpc=ctx.gpc)[PERSONALIZATION]
    ):
        return None
    return {
        **snapshot.as_dict(),
        "top_tags": [name for name, _count in snapshot.top_dimensions("tag:", 5)],
        "top_categories": [name for name, _count in snapshot.top_dimensions("category:", 3)],
    }


@register.simple_tag(takes_context=True)
def visitor_segments(context) -> list[str]:
    """``{% visitor_segments as segs %}``: slugs of the visitor's segments in this request.

    Decided once per request (memoised on it) from the cached snapshot and definitions.
    """
    request = context.get("request")
    if request is None:
        return []
    cached = getattr(request, "_pz_segments", None)
    if cached is not None:
        return cached
    authenticated, groups = user_facts(request)
    segments = segment_services.visitor_segments(
        visitor_id_from_request(request),
        request=request_context(request),
        is_authenticated=authenticated,
        user_groups=groups,
    )
    request._pz_segments = segments
    return segments
