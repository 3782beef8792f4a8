"""Personalized snippets by slug, decisions for placements, and impressions.

Snippet definitions are loaded once per process per content version (one query after an edit,
none after that), so a ``decide`` call or a page full of snippets reads no content table.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..context import VisitorContext
from .blocks import variant_rule
from .models import Impression, PersonalizedContent
from .selection import Choice, VariantRule, choose

DEFINITIONS_TTL = 60.0  # seconds; a safety net should the version key be evicted


@dataclass(frozen=True)
class CompiledSnippet:
    id: int
    slug: str
    name: str
    variants: tuple[tuple[VariantRule, Any], ...]
    fallback: Any


@dataclass(frozen=True)
class Decision:
    placement: str
    choice: Choice
    decision_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def content(self):
        return self.choice.payload


_snippets: tuple[str, float, dict[str, CompiledSnippet]] | None = None


def compile_snippet(snippet: PersonalizedContent) -> CompiledSnippet:
    return CompiledSnippet(
        id=snippet.pk,
        slug=snippet.slug,
        name=snippet.name,
        variants=tuple(
            (variant_rule(child.id, child.value), child.value["content"])
            for child in snippet.variants
        ),
        fallback=snippet.fallback,
    )


def snippet_definitions(content_version: str) -> dict[str, CompiledSnippet]:
    """Every personalized snippet by slug, for this content version."""
    global _snippets
    if (
        _snippets is not None
        and _snippets[0] == content_version
        and time.monotonic() - _snippets[1] < DEFINITIONS_TTL
    ):
        return _snippets[2]
    compiled = {s.slug: compile_snippet(s) for s in PersonalizedContent.objects.all()}
    _snippets = (content_version, time.monotonic(), compiled)
    return compiled


def choose_snippet(snippet: CompiledSnippet, context: VisitorContext) -> Choice:
    return choose(snippet.variants, context.segments, snippet.fallback, now=context.now)


def decide(
    placements: Sequence[str], context: VisitorContext, *, content_version: str
) -> list[Decision]:
    """One decision per placement (a snippet slug). Unknown slugs raise ``KeyError``."""
    snippets = snippet_definitions(content_version)
    return [Decision(slug, choose_snippet(snippets[slug], context)) for slug in placements]


def record_impressions(context: VisitorContext, decisions: Sequence[Decision]) -> int:
    """One INSERT for the whole call, and only for visitors whose consent lets us keep it."""
    if (
        not decisions
        or context.visitor_id is None
        or not context.collects_events
        or context.preview
    ):
        return 0
    Impression.objects.bulk_create(
        [
            Impression(
                decision_id=d.decision_id,
                visitor_id=context.visitor_id,
                placement=d.placement[:80],
                variant_id=d.choice.variant_id or "",
                segments=list(d.choice.reason),
                created_at=context.now,
            )
            for d in decisions
        ]
    )
    return len(decisions)
