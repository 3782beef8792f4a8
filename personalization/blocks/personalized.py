"""``PersonalizedBlock``: a page's personalized block, which experiments can run on.

Each block in a page's StreamField is a placement named ``page-<page id>-<block id>``
(``experiments.placements``). Template rendering and the pages API both go through
``decisions.choose_variants``: the visitor's experiment arm picks the variant when an experiment
runs on the block, else the segment rules do; an exposure is logged when an arm's choice is
shown. The arms are already part of the visitor's segment key, so a shared cache keeps one copy
per arm.

The page and block id come from the render context: Wagtail puts ``page`` in a page's template
context and (8.0+) ``id`` in the context of each StreamField child it renders, which
``compat.stream_child_id`` finds on 7.x; the pages API gets the same two keys from
``personalization.api.pages``. Without them (a block rendered outside a page)
the block has no placement, and segment rules decide.
"""

from __future__ import annotations

from ..compat import stream_child_id
from ..context import visitor_context
from ..decisions import PlacementDecision, choose_variants, record_shown
from ..experiments.placements import block_placement
from ..variants.blocks import VariantsBlock
from ..variants.selection import Choice


def placement_of(context: dict | None, value) -> str | None:
    context = context or {}
    page = context.get("page")
    return block_placement(getattr(page, "pk", None), stream_child_id(context, value))


class PersonalizedBlock(VariantsBlock):
    """Variants targeted at segments, plus default content; experiments can run on it."""

    class Meta:
        icon = "user"
        label = "Personalized content"
        label_format = "{variants}"

    def decide(self, value, context: dict | None) -> PlacementDecision:
        """The visitor's variant of this block, with the exposure logged if an arm chose it."""
        visitor = visitor_context((context or {}).get("request"))
        placement = placement_of(context, value)
        choice, assignment = choose_variants(
            placement, self.variant_rules(value), value.get("fallback"), visitor
        )
        if isinstance(choice.payload, int):  # lazy variants: convert the chosen one only
            choice = Choice(choice.rule, self.content_of(value, choice.payload), choice.reason)
        decision = PlacementDecision(placement or "", choice, assignment)
        if assignment is not None:  # an experiment decided: log the exposure as it is shown
            record_shown(visitor, [decision])
        return decision

    def chosen(self, value, context: dict | None) -> tuple[Choice, dict]:
        decision = self.decide(value, context)
        if decision.assignment is None:
            return decision.choice, {}
        # For a headless frontend to tag goal events (``decision_id``), as the decide API.
        return decision.choice, {
            "decision_id": str(decision.decision_id),
            "experiment": {"id": decision.assignment.experiment, "arm": decision.assignment.arm},
        }
