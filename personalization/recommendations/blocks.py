"""``RecommendationsBlock``: a StreamField block showing recommendations, with editor filters."""

from __future__ import annotations

from wagtail import blocks

from ..context import visitor_context
from .serving import Filters, recommend, request_site_id, similar_items


class RecommendationsBlock(blocks.StructBlock):
    heading = blocks.CharBlock(required=False, max_length=120, default="Recommended for you")
    mode = blocks.ChoiceBlock(
        choices=[("visitor", "For the visitor"), ("similar", "More like this page")],
        default="visitor",
    )
    limit = blocks.IntegerBlock(min_value=1, max_value=20, default=4)
    page_types = blocks.CharBlock(
        required=False,
        help_text="Only these page types, comma-separated app_label.model (e.g. demo.articlepage).",
    )
    placement = blocks.CharBlock(
        required=False, max_length=80, help_text="Name used in CTR reports."
    )

    class Meta:
        icon = "list-ul"
        label = "Recommendations"
        template = "personalization/recommendations.html"

    def get_context(self, value, parent_context=None):
        context = super().get_context(value, parent_context=parent_context)
        parent_context = parent_context or {}
        request = parent_context.get("request")
        visitor = visitor_context(request)
        types = tuple(
            t.strip().lower() for t in (value["page_types"] or "").split(",") if t.strip()
        )
        filters = Filters(page_types=types, site_id=request_site_id(request))
        placement = value["placement"] or f"block-{value['mode']}"
        page = parent_context.get("page") or parent_context.get("self")
        if value["mode"] == "similar" and getattr(page, "pk", None):
            items = similar_items(
                str(page.pk), visitor, limit=value["limit"], placement=placement, filters=filters
            )
        else:
            if request is not None:
                request._pz_private = True
            items = recommend(visitor, limit=value["limit"], placement=placement, filters=filters)
        context.update(items=items, heading=value["heading"])
        return context
