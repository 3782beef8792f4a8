"""The privacy audit log: who exported or erased whose data, and when."""

from __future__ import annotations

from django.db import models


class PrivacyAuditEntry(models.Model):
    """One export, erasure or retention purge.

    The subject is stored as a keyed hash, never as the visitor id: the entry proves that an
    erasure happened without keeping a handle on the erased person.
    """

    class Action(models.TextChoices):
        EXPORT = "export", "Export"
        ERASE = "erase", "Erase"
        PURGE = "purge", "Retention purge"

    action = models.CharField(max_length=16, choices=Action.choices)
    subject_hash = models.CharField(max_length=64, blank=True, db_index=True)
    actor = models.CharField(max_length=150, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "privacy audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.subject_hash[:12]} by {self.actor or 'system'}"
