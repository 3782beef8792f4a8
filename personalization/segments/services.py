"""Segment definitions, membership, and decisions about one visitor.

Writes go through here (admin, API, tasks and commands call the same functions). The hot path,
``visitor_segments``, reads the compiled definitions (cached per process, invalidated by a
version number in the shared cache) and the profile snapshot, and decides in memory.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ..consent.purposes import PERSONALIZATION
from ..consent.services import effective_consent
from ..profiles.models import VisitorProfile
from ..profiles.snapshot import ProfileSnapshot, build_snapshot, get_snapshot
from ..signals import segment_entered, segment_left
from ..types import RequestContext
from ..visitor_cache import bump_version_token, version_tokens
from .base import ConditionError, EvalContext, QContext
from .models import Segment, SegmentMembership, SegmentSizeHistory
from .tree import Node, compile_rules, describe_kinds
from .windows import next_change, store_recheck

VERSION_KEY = "personalization:segments:version"


@dataclass(frozen=True)
class CompiledSegment:
    id: int
    slug: str
    name: str
    priority: int
    kind: str
    node: Node
    references: frozenset[str]
    time_dependent: bool
    stored: dict[str, list[str]]


# -- definitions ------------------------------------------------------------------------------


COMPILED_TTL = 60.0  # seconds; a safety net should the version key be evicted


def definitions_version() -> str:
    return version_tokens(VERSION_KEY)[0]


def bump_definitions() -> None:
    """Every process drops its compiled definitions on its next request (no cache flush)."""
    bump_version_token(VERSION_KEY)


_compiled: tuple[str, float, list[CompiledSegment]] | None = None


def compiled_segments(version: str | None = None) -> list[CompiledSegment]:
    """Enabled segments, compiled, in dependency order (a referenced segment comes first)."""
    global _compiled
    version = definitions_version() if version is None else version
    if (
        _compiled is not None
        and _compiled[0] == version
        and time.monotonic() - _compiled[1] < COMPILED_TTL
    ):
        return _compiled[2]
    segments = []
    for segment in Segment.objects.filter(status=Segment.Status.ENABLED):
        try:
            segments.append(compile_segment(segment))
        except ConditionError:
            continue  # stored before a condition type went away: it matches nobody
    ordered = _dependency_order(segments)
    _compiled = (version, time.monotonic(), ordered)
    return ordered


def compile_segment(segment: Segment) -> CompiledSegment:
    node = compile_rules(segment.rules)
    leaves = node.leaves()
    return CompiledSegment(
        id=segment.pk,
        slug=segment.slug,
        name=segment.name,
        priority=segment.priority,
        kind=segment.kind,
        node=node,
        references=frozenset(r for leaf in leaves for r in leaf.references()),
        time_dependent=any(leaf.time_dependent for leaf in leaves),
        stored=describe_kinds(node),
    )


def _dependency_order(segments: list[CompiledSegment]) -> list[CompiledSegment]:
    by_slug = {s.slug: s for s in segments}
    ordered: list[CompiledSegment] = []
    state: dict[str, int] = {}

    def visit(segment: CompiledSegment) -> None:
        if state.get(segment.slug) == 2:
            return
        if state.get(segment.slug) == 1:
            return  # a cycle slipped past validation: break it rather than recurse forever
        state[segment.slug] = 1
        for ref in sorted(segment.references):
            if ref in by_slug:
                visit(by_slug[ref])
        state[segment.slug] = 2
        ordered.append(segment)

    for segment in sorted(segments, key=lambda s: (-s.priority, s.slug)):
        visit(segment)
    return ordered


def check_references(slug: str, rules) -> None:
    """Reject references to unknown segments and cycles through references."""
    node = compile_rules(rules)
    graph = {
        s.slug: {r for leaf in _leaves(s.rules) for r in leaf.references()}
        for s in Segment.objects.exclude(slug=slug)
    }
    graph[slug] = {r for leaf in node.leaves() for r in leaf.references()}
    for ref in sorted(graph[slug]):
        if ref not in graph:
            raise ConditionError("", f"References an unknown segment '{ref}'.")
    seen: set[str] = set()
    stack = [slug]
    while stack:
        current = stack.pop()
        for ref in graph.get(current, ()):
            if ref == slug:
                raise ConditionError("", f"Segment references form a cycle through '{current}'.")
            if ref not in seen:
                seen.add(ref)
                stack.append(ref)


def _leaves(rules):
    try:
        return compile_rules(rules).leaves()
    except ConditionError:
        return []


def save_segment(segment: Segment) -> Segment:
    """Validate and store a segment. Every process sees the new definitions: the post_save
    handler bumps their version (``signal_handlers.invalidate_segments``), once."""
    check_references(segment.slug, segment.rules)
    segment.full_clean()
    segment.save()
    return segment


# -- the hot path -----------------------------------------------------------------------------


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
) -> list[str]:
    """Slugs of the segments the visitor is in now, highest priority first. No I/O."""
    now = now or timezone.now()
    matched: list[str] = []
    held: set[str] = set()
    for segment in segments:
        if segment.kind == Segment.Kind.STATIC:
            hit = bool(static_members and static_members.get(segment.id))
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
    return evaluate(
        snapshot,
        segments,
        request=request,
        timezone_name=timezone_name,
        is_authenticated=is_authenticated,
        user_groups=user_groups,
        static_members=static_members,
    )


# -- membership -------------------------------------------------------------------------------


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
        _record_size(segment, now)
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
    size = _record_size(segment, now)
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


def _record_size(segment: Segment, now: datetime) -> int:
    size = SegmentMembership.objects.filter(segment=segment).count()
    Segment.objects.filter(pk=segment.pk).update(member_count=size, last_recomputed_at=now)
    SegmentSizeHistory.objects.update_or_create(
        segment=segment, date=now.date(), defaults={"size": size}
    )
    return size


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


def record_segment_sizes(*, now: datetime | None = None) -> int:
    """Store today's size of every segment (the recompute does it too, for the ones it runs)."""
    now = now or timezone.now()
    segments = list(Segment.objects.all())
    for segment in segments:
        _record_size(segment, now)
    return len(segments)


def forget_memberships(visitor_id: uuid.UUID) -> int:
    """Drop an id's dynamic memberships (it was merged into another profile)."""
    deleted, _ = SegmentMembership.objects.filter(
        visitor_id=visitor_id, segment__kind=Segment.Kind.DYNAMIC
    ).delete()
    return deleted
