"""Personalized content (snippets) in the Wagtail admin."""

from __future__ import annotations

from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
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


def variant_reach_assets() -> str:
    """Reach estimates under each variant in page and snippet editors (``variant_reach.js``).

    The endpoint's URL travels on the script tag; without the API mounted there is nothing to ask.
    """
    try:
        url = reverse("personalization_api:variant-reach")
    except NoReverseMatch:
        return ""
    return format_html(
        '<link rel="stylesheet" href="{}"><script src="{}" data-reach-url="{}"></script>',
        static("personalization/variant_reach.css"),
        static("personalization/variant_reach.js"),
        url,
    )
