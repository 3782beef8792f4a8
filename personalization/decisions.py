"""The rendering edge's decision: a placement's variant, from an experiment arm when the visitor
takes part in one, else from the variants' segment rules; and the log of what was shown.

``variants`` and ``experiments`` are siblings that never import each other; this module, used by
the decide API and the template tags, composes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction

from .context import VisitorContext
from .experiments.models import Experiment
from .experiments.services import promote_winner, record_exposures
from .types import ArmAssignment
from .variants.models import PersonalizedContent
from .variants.selection import Choice, VariantRule, choose
from .variants.services import (
    CompiledSnippet,
    Decision,
    choose_snippet,
    record_impressions,
    snippet_definitions,
)

EXPERIMENT_REASON = "experiment"


@dataclass(frozen=True)
class PlacementDecision:
    placement: str
    choice: Choice
    assignment: ArmAssignment | None = None
    decision_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def content(self):
        return self.choice.payload


def choose_placement(
    snippet: CompiledSnippet, context: VisitorContext
) -> tuple[Choice, ArmAssignment | None]:
    """A snippet's decision (see ``choose_variants``)."""
    if not context.arms:
        return choose_snippet(snippet, context), None
    return choose_variants(snippet.slug, snippet.variants, snippet.fallback, context)


def choose_variants(
    placement: str | None,
    variants: Sequence[tuple[VariantRule, object]],
    fallback,
    context: VisitorContext,
) -> tuple[Choice, ArmAssignment | None]:
    """The arm's variant when an experiment decides this placement ("" = default content);
    otherwise, or if the arm's variant was deleted, the first variant whose rules match.

    One function for every kind of placement (a snippet's slug, a page block's
    ``page-<id>-<block id>``), so a page, the pages API and the decide API agree."""
    hit = context.arm_for(placement) if placement and context.arms else None
    if hit is not None:
        assignment, variant_id = hit
        if assignment.default_audience_only:
            targeted = choose(variants, context.segments, fallback, now=context.now)
            if not targeted.is_fallback:
                return targeted, None  # a variant targets this visitor: not exposed
        if not variant_id:
            return Choice(None, fallback, (EXPERIMENT_REASON,)), assignment
        for rule, payload in variants:
            if rule.id == variant_id:
                return Choice(rule, payload, (EXPERIMENT_REASON,)), assignment
    return choose(variants, context.segments, fallback, now=context.now), None


def decide(
    placements: Sequence[str], context: VisitorContext, *, content_version: str
) -> list[PlacementDecision]:
    """One decision per placement (a snippet slug). Unknown slugs raise ``KeyError``."""
    snippets = snippet_definitions(content_version)
    decisions = []
    for slug in placements:
        choice, assignment = choose_placement(snippets[slug], context)
        decisions.append(PlacementDecision(slug, choice, assignment))
    return decisions


def record_shown(context: VisitorContext, decisions: Sequence[PlacementDecision]) -> None:
    """Impressions for every placement, exposures for those an experiment decided.

    With Redis both wait in this process and ride on the next hot-path read
    (``visitor_cache.push_rows``), so neither adds a round trip to a page view or a decide call.
    """
    record_impressions(context, [Decision(d.placement, d.choice, d.decision_id) for d in decisions])
    shown = [(d.assignment, d.placement, d.decision_id) for d in decisions if d.assignment]
    if shown:
        record_exposures(context, shown)


def promote(experiment: Experiment, arm_key: str, *, actor: str = "") -> list[str]:
    """Make the winning arm's variants the default content of their placements; returns the
    slugs changed. The arm must belong to the completed experiment."""
    changed = []
    with transaction.atomic():
        promote_winner(experiment, arm_key, actor=actor)
        arm = experiment.arms.get(key=arm_key)
        for slug, variant_id in (arm.variants or {}).items():
            snippet = PersonalizedContent.objects.filter(slug=slug).first()
            if snippet is None or not variant_id:
                continue
            for child in snippet.variants:
                if str(child.id) == str(variant_id):
                    snippet.fallback = child.value["content"].get_prep_value()
                    snippet.save()
                    changed.append(slug)
                    break
    return changed
