"""Segments, their materialised membership, and their size over time."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from .base import ConditionError


def validate_rules(value) -> None:
    from .tree import validate

    try:
        validate(value)
    except ConditionError as exc:
        raise ValidationError(str(exc), code="invalid_rules") from None


class Segment(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ENABLED = "enabled", "Enabled"
        DISABLED = "disabled", "Disabled"

    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", "Dynamic (kept live)"
        STATIC = "static", "Static (frozen at a point in time)"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DYNAMIC)
    priority = models.IntegerField(
        default=0, help_text="Higher wins when several segments' variants compete."
    )
    rules = models.JSONField(default=dict, validators=[validate_rules])
    webhook_url = models.URLField(
        blank=True, help_text="Receives a POST when visitors enter or leave (optional)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    member_count = models.PositiveIntegerField(default=0, editable=False)
    last_recomputed_at = models.DateTimeField(null=True, blank=True, editable=False)
    frozen_at = models.DateTimeField(null=True, blank=True, editable=False)
    progress = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["-priority", "name"]

    def __str__(self) -> str:
        return self.name


class SegmentMembership(models.Model):
    """A visitor whose stored profile satisfies the segment's profile conditions."""

    personalization_visitor_lookups = ("visitor_id",)

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    visitor_id = models.UUIDField()
    entered_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "visitor_id"], name="pz_membership_unique")
        ]
        indexes = [models.Index(fields=["visitor_id"], name="pz_membership_visitor")]

    def __str__(self) -> str:
        return f"{self.visitor_id} in {self.segment_id}"


class SegmentSizeHistory(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="size_history")
    date = models.DateField()
    size = models.PositiveIntegerField()

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["segment", "date"], name="pz_segment_size_unique")
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.date}: {self.size}"
