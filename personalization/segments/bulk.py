"""Bulk membership in SQL: recompute a segment (or those with windows, or those using some
condition types) by INSERT ... SELECT and anti-joins, and estimate a rule tree's size."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ..profiles.models import VisitorProfile
from ..signals import segment_entered, segment_left
from .base import QContext
from .definitions import CompiledSegment, compile_segment, compiled_segments
from .models import Segment, SegmentMembership
from .sizes import record_size
from .tree import compile_rules


def _member_qs(
    segments: list[CompiledSegment], now: datetime, *, compute: int | None = None
) -> dict[str, Q]:
    """Each segment's 'possible' filter, with references resolved in dependency order.

    A static segment is its frozen membership, unless it is the one being computed (``compute``).
    """
    member_q: dict[str, Q] = {}
    for segment in segments:
        if segment.kind == Segment.Kind.STATIC and segment.id != compute:
            frozen = SegmentMembership.objects.filter(segment_id=segment.id).values("visitor_id")
            member_q[segment.slug] = Q(visitor_id__in=frozen)
            continue
        ctx = QContext(now=now, segment_slug=segment.slug, member_q=member_q)
        member_q[segment.slug] = segment.node.possible_q(ctx)
    return member_q


def recompute_segment(
    segment: Segment, *, now: datetime | None = None, progress=None
) -> dict[str, int]:
    """Bring a segment's membership in line with its rules, in bulk, touching only changes.

    A static segment is computed the same way, then frozen (recompute it on demand).
    """
    now = now or timezone.now()
    segments = compiled_segments()
    if segment.kind == Segment.Kind.STATIC and all(s.id != segment.pk for s in segments):
        segments = [*segments, compile_segment(segment)]  # a draft can be frozen on demand
    target = next((s for s in segments if s.id == segment.pk), None)
    if target is None:  # not enabled: it has no members
        removed, _ = SegmentMembership.objects.filter(segment=segment).delete()
        record_size(segment, now)
        return {"entered": 0, "left": removed, "size": 0}
    member_q = _member_qs(segments, now, compute=segment.pk)
    matching = VisitorProfile.objects.filter(member_q[target.slug])
    if progress:
        progress(0, 2)
    with transaction.atomic():
        # NOT EXISTS plans as an anti-join; NOT IN (subquery) degrades to a nested loop on
        # PostgreSQL once the subquery outgrows work_mem.
        still_matching = matching.filter(visitor_id=OuterRef("visitor_id"))
        left_ids = list(
            SegmentMembership.objects.filter(segment=segment)
            .filter(~Exists(still_matching))
            .values_list("visitor_id", flat=True)
        )
        for start in range(0, len(left_ids), 5000):
            SegmentMembership.objects.filter(
                segment=segment, visitor_id__in=left_ids[start : start + 5000]
            ).delete()
        entered_ids = _insert_members(segment, matching, now)
    if len(entered_ids) + len(left_ids) > 10_000 and connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # fresh statistics after a large change
            cursor.execute(f"ANALYZE {connection.ops.quote_name(SegmentMembership._meta.db_table)}")
    if progress:
        progress(1, 2)
    _announce_bulk(segment, entered_ids, left_ids)
    size = record_size(segment, now)
    if segment.kind == Segment.Kind.STATIC:
        Segment.objects.filter(pk=segment.pk).update(frozen_at=now)
    if progress:
        progress(2, 2)
    return {"entered": len(entered_ids), "left": len(left_ids), "size": size}


def _insert_members(segment: Segment, matching, now: datetime) -> list[uuid.UUID]:
    """INSERT ... SELECT the new members in one statement; returns who entered.

    Only profiles that are not members yet are selected (an anti-join), so a recompute with no
    change writes and conflicts with nothing.
    """
    members = SegmentMembership.objects.filter(segment=segment, visitor_id=OuterRef("visitor_id"))
    profiles = matching.filter(~Exists(members)).values("visitor_id")
    select_sql, params = profiles.query.sql_with_params()
    table = connection.ops.quote_name(SegmentMembership._meta.db_table)
    sql = (
        f"INSERT INTO {table} (segment_id, visitor_id, entered_at) "  # noqa: S608
        f"SELECT %s, p.visitor_id, %s FROM ({select_sql}) p "
        f"WHERE true ON CONFLICT (segment_id, visitor_id) DO NOTHING RETURNING visitor_id"
    )
    field = SegmentMembership._meta.get_field("entered_at")
    with connection.cursor() as cursor:
        cursor.execute(sql, [segment.pk, field.get_db_prep_save(now, connection), *params])
        field = SegmentMembership._meta.get_field("visitor_id")
        return [field.to_python(v) for (v,) in cursor.fetchall()]


def _announce_bulk(segment: Segment, entered: list, left: list) -> None:
    if entered:
        segment_entered.send(sender=Segment, segment=segment, visitor_ids=entered)
    if left:
        segment_left.send(sender=Segment, segment=segment, visitor_ids=left)


def recompute_time_dependent(*, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """The beat task's work: windows slide, so segments with windows are recomputed."""
    now = now or timezone.now()
    ids = [s.id for s in compiled_segments() if s.time_dependent and s.kind == Segment.Kind.DYNAMIC]
    return {
        segment.slug: recompute_segment(segment, now=now)
        for segment in Segment.objects.filter(pk__in=ids)
    }


def recompute_segments_using(
    condition_types: set[str], *, now: datetime | None = None
) -> dict[str, dict[str, int]]:
    """Recompute the dynamic segments with a condition of one of these types, and the segments
    that reference them (after batch scoring rewrote personas and scores)."""
    now = now or timezone.now()
    chosen: set[str] = set()
    for segment in compiled_segments():  # dependency order: references come first
        if segment.kind != Segment.Kind.DYNAMIC:
            continue
        types = {leaf.type for leaf in segment.node.leaves()}
        if types & condition_types or segment.references & chosen:
            chosen.add(segment.slug)
    return {
        segment.slug: recompute_segment(segment, now=now)
        for segment in Segment.objects.filter(slug__in=chosen)
    }


def estimate_size(rules, *, now: datetime | None = None) -> int:
    """How many stored profiles could match these rules (live estimate in the editor)."""
    node = compile_rules(rules)
    now = now or timezone.now()
    member_q = _member_qs(compiled_segments(), now)
    return VisitorProfile.objects.filter(
        node.possible_q(QContext(now=now, member_q=member_q))
    ).count()


def recompute_segment_by_id(segment_id: int) -> dict[str, int] | None:
    """What the task and the admin's eager path run: recompute, recording progress."""
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        return None  # deleted meanwhile: nothing to do
    return recompute_segment(segment, progress=progress_recorder(segment_id))


def progress_recorder(segment_id: int):
    """A ``progress`` callback that stores done/total on the segment, for the admin to show."""

    def record(done: int, total: int) -> None:
        Segment.objects.filter(pk=segment_id).update(
            progress={"done": done, "total": total, "at": timezone.now().isoformat()}
        )

    return record
