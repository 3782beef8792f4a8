"""Real-time membership: after one visitor's profile changed, move them in or out of the
dynamic segments (and forget a merged id's memberships)."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..profiles.snapshot import build_snapshot
from ..signals import segment_entered, segment_left
from .base import EvalContext
from .definitions import compiled_segments
from .models import Segment, SegmentMembership
from .windows import next_change, store_recheck


def update_visitor_memberships(visitor_id: uuid.UUID, *, now: datetime | None = None) -> dict:
    """Real time: after a visitor's profile changed, move them in or out of dynamic segments.

    Membership holds whoever could match in some request (request conditions are checked when
    deciding), judged from a fresh read of the profile, not from a cache.
    """
    now = now or timezone.now()
    everything = compiled_segments()
    segments = [s for s in everything if s.kind == Segment.Kind.DYNAMIC]
    if not segments:
        return {"entered": [], "left": []}
    snapshot = build_snapshot(visitor_id)
    if not snapshot.exists:
        return {"entered": [], "left": []}
    should: set[int] = set()
    static = {s.id: s.slug for s in everything if s.kind == Segment.Kind.STATIC}
    held: set[str] = {
        static[i]
        for i in SegmentMembership.objects.filter(
            visitor_id=snapshot.visitor_id, segment_id__in=list(static)
        ).values_list("segment_id", flat=True)
    }
    contexts = []
    for segment in segments:
        ctx = EvalContext(
            snapshot=snapshot, now=now, segments=frozenset(held), segment_slug=segment.slug
        )
        contexts.append((segment, ctx))
        if segment.node.possible(ctx):
            should.add(segment.id)
            held.add(segment.slug)
    if any(segment.time_dependent for segment in segments):
        store_recheck(snapshot.visitor_id, next_change(contexts))  # when a window next closes
    ids = [s.id for s in segments]
    current = set(
        SegmentMembership.objects.filter(
            visitor_id=snapshot.visitor_id, segment_id__in=ids
        ).values_list("segment_id", flat=True)
    )
    entered, left = should - current, current - should
    with transaction.atomic():
        SegmentMembership.objects.bulk_create(
            [
                SegmentMembership(segment_id=i, visitor_id=snapshot.visitor_id, entered_at=now)
                for i in entered
            ],
            ignore_conflicts=True,
        )
        SegmentMembership.objects.filter(
            visitor_id=snapshot.visitor_id, segment_id__in=left
        ).delete()
    _announce(entered, left, [snapshot.visitor_id])
    return {"entered": sorted(entered), "left": sorted(left)}


def _announce(entered, left, visitor_ids) -> None:
    if not entered and not left:
        return
    for segment in Segment.objects.filter(pk__in=[*entered, *left]):
        signal = segment_entered if segment.pk in entered else segment_left
        signal.send(sender=Segment, segment=segment, visitor_ids=list(visitor_ids))


def forget_memberships(visitor_id: uuid.UUID) -> int:
    """Drop an id's dynamic memberships (it was merged into another profile)."""
    deleted, _ = SegmentMembership.objects.filter(
        visitor_id=visitor_id, segment__kind=Segment.Kind.DYNAMIC
    ).delete()
    return deleted
