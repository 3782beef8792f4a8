"""Personalized content (snippets) in the Wagtail admin."""

from __future__ import annotations

from wagtail.admin.panels import FieldPanel, MultiFieldPanel
from wagtail.admin.ui.tables import Column, UpdatedAtColumn
from wagtail.snippets.views.snippets import SnippetViewSet

from ..variants.models import PersonalizedContent


def _variant_summary(snippet: PersonalizedContent) -> str:
    parts = []
    for child in snippet.variants:
        segments = ", ".join(child.value.get("segments") or []) or "everyone"
        parts.append(f"{child.value.get('name') or 'Variant'} → {segments}")
    return "; ".join(parts) or "Default content only"


class PersonalizedContentViewSet(SnippetViewSet):
    model = PersonalizedContent
    icon = "user"
    menu_label = "Personalized content"
    add_to_admin_menu = False  # shown in the "Personalization" group
    url_prefix = "personalization/content"
    list_display = [
        "name",
        Column("slug", label="Slug"),
        Column("variants", label="Variants", accessor=_variant_summary),
        UpdatedAtColumn(),
    ]
    search_fields = ["name", "slug"]
    search_backend_name = None
    panels = [
        MultiFieldPanel(
            [FieldPanel("name"), FieldPanel("slug"), FieldPanel("description")],
            heading="About",
        ),
        FieldPanel("variants"),
        FieldPanel("fallback"),
    ]
