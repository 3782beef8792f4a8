"""Visitor profiles, their time-bucketed counters, and ids merged into them."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

SAMPLE_SCALE = 10_000


def sample_bucket(visitor_id) -> int:
    """A stable number in [0, 10000) per visitor, for deterministic random samples."""
    return int(visitor_id.hex[:8], 16) % SAMPLE_SCALE


class VisitorProfile(models.Model):
    """What we know about one visitor, folded from events and set by the site (traits)."""

    personalization_visitor_lookups = ("visitor_id",)

    visitor_id = models.UUIDField(unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="personalization_profile",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    updated_at = models.DateTimeField(auto_now=True)

    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    visit_count = models.PositiveIntegerField(default=0)
    current_visit_started_at = models.DateTimeField(null=True, blank=True)
    event_count = models.PositiveIntegerField(default=0)

    device_type = models.CharField(max_length=16, blank=True)
    os = models.CharField(max_length=64, blank=True)
    browser = models.CharField(max_length=64, blank=True)
    country = models.CharField(max_length=8, blank=True)
    region = models.CharField(max_length=16, blank=True)
    language = models.CharField(max_length=16, blank=True)

    first_referrer = models.CharField(max_length=500, blank=True)
    first_landing_url = models.CharField(max_length=500, blank=True)
    first_utm = models.JSONField(default=dict, blank=True)
    latest_referrer = models.CharField(max_length=500, blank=True)
    latest_landing_url = models.CharField(max_length=500, blank=True)
    latest_utm = models.JSONField(default=dict, blank=True)

    traits = models.JSONField(default=dict, blank=True)

    # RFM: recency comes from last_purchase_at, frequency from purchase_count.
    purchase_count = models.PositiveIntegerField(default=0)
    monetary_total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    last_purchase_at = models.DateTimeField(null=True, blank=True)

    # Filled by the scoring layer (a later issue); conditions can already read them.
    predicted_scores = models.JSONField(default=dict, blank=True)
    persona = models.CharField(max_length=64, blank=True)
    # sample_bucket(visitor_id), stored so that random-sample segments can be counted in SQL.
    sample_bucket = models.PositiveSmallIntegerField(default=0, editable=False)
    # When a windowed segment condition could next change for this visitor by time alone (an
    # event leaving a window): the window sweep re-evaluates their membership then.
    segments_recheck_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["last_seen"], name="pz_profile_last_seen"),
            models.Index(fields=["segments_recheck_at"], name="pz_profile_recheck"),
        ]

    def __str__(self) -> str:
        return str(self.visitor_id)

    def save(self, *args, **kwargs):
        self.sample_bucket = sample_bucket(self.visitor_id)
        super().save(*args, **kwargs)


class Granularity(models.TextChoices):
    FIVE_MINUTES = "m", "5 minutes"
    HOUR = "h", "Hour"
    DAY = "d", "Day"
    TOTAL = "t", "All time"


class ProfileCounter(models.Model):
    """How often a visitor did something in one bucket of time.

    ``dimension`` narrows the event type: "" for all, or "tag:pricing", "category:news",
    "page:42", "page_type:demo.articlepage". 5-minute and hourly buckets cover the recent window,
    daily buckets the long one, and one TOTAL row per key counts everything ever.
    """

    personalization_visitor_lookups = ("profile__visitor_id",)

    profile = models.ForeignKey(VisitorProfile, on_delete=models.CASCADE, related_name="counters")
    granularity = models.CharField(max_length=1, choices=Granularity.choices)
    bucket = models.DateTimeField()
    event_type = models.CharField(max_length=64)
    dimension = models.CharField(max_length=200, blank=True, default="")
    count = models.PositiveIntegerField(default=0)
    value = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "granularity", "bucket", "event_type", "dimension"],
                name="pz_counter_unique",
            )
        ]
        indexes = [
            models.Index(fields=["granularity", "bucket"], name="pz_counter_bucket"),
            models.Index(
                fields=["event_type", "dimension", "granularity", "bucket"],
                name="pz_counter_lookup",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type}|{self.dimension} {self.granularity}@{self.bucket:%Y-%m-%d %H}h"


class VisitorAlias(models.Model):
    """An id that was merged into a profile (another device, the anonymous id before login)."""

    personalization_visitor_lookups = ("alias_id", "profile__visitor_id")

    alias_id = models.UUIDField(unique=True)
    profile = models.ForeignKey(VisitorProfile, on_delete=models.CASCADE, related_name="aliases")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.alias_id} -> profile {self.profile_id}"
