"""Consent state per visitor and purpose, and its history (proof of consent, GDPR Art. 7)."""

from __future__ import annotations

from django.db import models

from .purposes import PURPOSES

PURPOSE_CHOICES = [(p, p.title()) for p in PURPOSES]


class ConsentRecord(models.Model):
    """The current answer of one visitor for one purpose."""

    personalization_visitor_lookups = ("visitor_id",)

    visitor_id = models.UUIDField()
    purpose = models.CharField(max_length=32, choices=PURPOSE_CHOICES)
    granted = models.BooleanField()
    source = models.CharField(max_length=32, default="api")
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["visitor_id", "purpose"], name="pz_consent_unique")
        ]

    def __str__(self) -> str:
        return f"{self.visitor_id} {self.purpose}={self.granted}"


class ConsentChange(models.Model):
    """Append-only log of every consent answer, to show when and how consent was given."""

    personalization_visitor_lookups = ("visitor_id",)

    visitor_id = models.UUIDField(db_index=True)
    purpose = models.CharField(max_length=32, choices=PURPOSE_CHOICES)
    granted = models.BooleanField()
    source = models.CharField(max_length=32, default="api")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return (
            f"{self.visitor_id} {self.purpose}={self.granted} at {self.created_at:%Y-%m-%d %H:%M}"
        )
