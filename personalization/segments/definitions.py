"""Segment definitions: validate and save them, compile the enabled ones once per process.

Compiled definitions are cached per process and dropped when the version number in the shared
cache moves (``bump_definitions`` on every save), so no process serves stale rules for long.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..visitor_cache import bump_version_token, version_tokens
from .base import ConditionError
from .models import Segment
from .tree import Node, compile_rules, describe_kinds

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
