"""The append-only event log: the only unbounded table (partition it by time in production)."""

from __future__ import annotations

from django.db import models


class Event(models.Model):
    """One thing a visitor did. ``key`` makes re-delivery harmless: (visitor, key) is unique."""

    personalization_visitor_lookups = ("visitor_id",)

    visitor_id = models.UUIDField()
    key = models.CharField(max_length=80)
    type = models.CharField(max_length=64)
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True)
    # False until folded into the profile; folding only ever reads unfolded rows, so a
    # re-delivered fold task finds nothing left to count.
    folded = models.BooleanField(default=False)
    # True for an event that folding could not count (a value past a column's range stored
    # before validation caught it, say): set aside, folded=True, so it never blocks the others.
    quarantined = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["visitor_id", "key"], name="pz_event_idempotency")
        ]
        indexes = [
            models.Index(
                fields=["visitor_id"],
                condition=models.Q(folded=False),
                name="pz_event_unfolded",
            ),
            models.Index(fields=["timestamp"], name="pz_event_ts"),
            models.Index(fields=["type", "timestamp"], name="pz_event_type_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.type} by {self.visitor_id} at {self.timestamp:%Y-%m-%d %H:%M}"
