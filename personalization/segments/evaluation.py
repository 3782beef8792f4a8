"""The hot path: which segments one visitor is in for one request, decided in memory.

``visitor_segments`` reads the compiled definitions and the profile snapshot (both cached) and
evaluates every rule tree against them: no query on a warm cache.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.utils import timezone

from ..consent.purposes import PERSONALIZATION
from ..consent.services import effective_consent
from ..profiles.snapshot import ProfileSnapshot, get_snapshot
from ..types import RequestContext
from .base import EvalContext
from .definitions import CompiledSegment, compiled_segments, definitions_version
from .models import Segment, SegmentMembership
from .precomputed import Precomputed, precomputed_for


def evaluate(
    snapshot: ProfileSnapshot,
    segments: list[CompiledSegment],
    *,
    now: datetime | None = None,
    request: RequestContext | None = None,
    timezone_name: str = "",
    is_authenticated: bool = False,
    user_groups: frozenset[str] = frozenset(),
    static_members: dict[int, bool] | None = None,
    precomputed: Precomputed | None = None,
) -> list[str]:
    """Slugs of the segments the visitor is in now, highest priority first. No I/O.

    ``precomputed`` answers the profile-only segments (see ``precomputed``); the others are
    evaluated here."""
    now = now or timezone.now()
    matched: list[str] = []
    held: set[str] = set()
    answered = precomputed.evaluated if precomputed is not None else frozenset()
    for segment in segments:
        if segment.kind == Segment.Kind.STATIC:
            hit = bool(static_members and static_members.get(segment.id))
        elif segment.slug in answered:
            hit = segment.slug in precomputed.matched
        else:
            ctx = EvalContext(
                snapshot=snapshot,
                now=now,
                request=request,
                timezone=timezone_name,
                is_authenticated=is_authenticated,
                user_groups=user_groups,
                segments=frozenset(held),
                segment_slug=segment.slug,
            )
            hit = segment.node.matches(ctx)
        if hit:
            held.add(segment.slug)
            matched.append(segment.slug)
    priority = {s.slug: (-s.priority, s.slug) for s in segments}
    return sorted(matched, key=priority.__getitem__)


def visitor_snapshot(visitor_id: uuid.UUID | None) -> ProfileSnapshot:
    """The visitor's snapshot, or an empty one for a visitor without an id."""
    return get_snapshot(visitor_id) if visitor_id else ProfileSnapshot(visitor_id=uuid.UUID(int=0))


def may_personalize(snapshot: ProfileSnapshot, request: RequestContext | None) -> bool:
    """Whether the stored profile may shape what this visitor sees."""
    if not snapshot.exists:
        return False
    dnt, gpc = (request.dnt, request.gpc) if request is not None else (False, False)
    return effective_consent(snapshot.consent, dnt=dnt, gpc=gpc)[PERSONALIZATION]


def visitor_segments(
    visitor_id: uuid.UUID | None,
    *,
    request: RequestContext | None = None,
    timezone_name: str = "",
    is_authenticated: bool = False,
    user_groups: frozenset[str] = frozenset(),
    version: str | None = None,
    snapshot: ProfileSnapshot | None = None,
) -> list[str]:
    """The segments of one visitor in one request: two cache reads, no query on a warm cache
    (plus one for static segments' frozen members, when there are static segments).

    Callers that already read the definitions version pass it, saving a round trip.
    """
    version = definitions_version() if version is None else version
    segments = compiled_segments(version)
    if snapshot is None:
        snapshot = visitor_snapshot(visitor_id)
    if not may_personalize(snapshot, request):
        # Without personalization consent (or with DNT/GPC) only what this request says counts.
        snapshot = ProfileSnapshot(visitor_id=uuid.UUID(int=0))
    static_ids = [s.id for s in segments if s.kind == Segment.Kind.STATIC]
    static_members = {}
    if static_ids and snapshot.exists:
        static_members = dict.fromkeys(
            SegmentMembership.objects.filter(
                segment_id__in=static_ids, visitor_id=snapshot.visitor_id
            ).values_list("segment_id", flat=True),
            True,
        )
    now = timezone.now()
    return evaluate(
        snapshot,
        segments,
        now=now,
        precomputed=precomputed_for(snapshot, version, now),
        request=request,
        timezone_name=timezone_name,
        is_authenticated=is_authenticated,
        user_groups=user_groups,
        static_members=static_members,
    )
