"""Reusable personalized content (snippets) and the impressions the decide API records."""

from __future__ import annotations

from django.db import models
from wagtail.fields import StreamField

from .blocks import VariantBlock, VariantContentBlock


class PersonalizedContent(models.Model):
    """A named piece of personalized content (banner, call to action, promotion) that any page,
    template (``{% personalized_snippet "slug" %}``) or headless frontend (the decide API's
    placements) can show. Same variant model as the StreamField block."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(
        max_length=80, unique=True, help_text="How templates and the decide API name it."
    )
    description = models.TextField(blank=True)
    variants = StreamField(
        [("variant", VariantBlock())],
        blank=True,
        help_text="The first variant that matches is shown; drag to change the order.",
    )
    fallback = StreamField(
        VariantContentBlock(),
        blank=True,
        verbose_name="default content",
        help_text="Shown when no variant matches.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "personalized content"
        verbose_name_plural = "personalized content"

    def __str__(self) -> str:
        return self.name


class Impression(models.Model):
    """One decision shown to one visitor: what was chosen and why, so that clicks and
    conversions carrying the ``decision_id`` can be attributed later."""

    personalization_visitor_lookups = ("visitor_id",)
    personalization_retention = ("created_at", "IMPRESSION_RETENTION_DAYS")

    decision_id = models.UUIDField(primary_key=True)
    visitor_id = models.UUIDField()
    placement = models.CharField(max_length=80)
    variant_id = models.CharField(max_length=64, blank=True, help_text="Empty for the default.")
    segments = models.JSONField(default=list, blank=True, help_text="The segments that matched.")
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["visitor_id"], name="pz_impression_visitor"),
            models.Index(fields=["placement", "created_at"], name="pz_impression_placement"),
        ]

    def __str__(self) -> str:
        return f"{self.placement}: {self.variant_id or 'default'}"
