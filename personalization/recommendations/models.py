"""Interactions, trained model versions, precomputed lists and the decisions shown."""

from __future__ import annotations

from django.db import models


class Interaction(models.Model):
    """An interaction imported from outside the event log (a MovieLens or CSV file, another
    system). Events need no copy here: training reads them where they are.

    External user ids become stable visitor UUIDs (uuid5 of source and id), so erasure and export
    find an imported visitor like any other; ``external_user`` keeps the original for export.
    """

    personalization_visitor_lookups = ("visitor_id",)

    visitor_id = models.UUIDField()
    external_user = models.CharField(max_length=64, blank=True)
    item_id = models.CharField(max_length=64)
    weight = models.FloatField(default=1.0)
    timestamp = models.DateTimeField()
    source = models.CharField(max_length=40)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "visitor_id", "item_id", "timestamp"],
                name="pz_interaction_once",
            )
        ]
        indexes = [
            models.Index(fields=["visitor_id"], name="pz_interaction_visitor"),
            models.Index(fields=["timestamp"], name="pz_interaction_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.visitor_id} -> {self.item_id} ({self.weight:g})"


class RecommenderVersion(models.Model):
    """One trained model: what it learnt from (data window, sizes), how (algorithm, params),
    how well (offline metrics, with popularity as the floor) and the artefact itself."""

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    algorithm = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.TRAINING)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    progress_note = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    is_active = models.BooleanField(default=False)
    data_start = models.DateTimeField(null=True, blank=True)
    data_end = models.DateTimeField(null=True, blank=True)
    n_visitors = models.PositiveIntegerField(default=0)
    n_items = models.PositiveIntegerField(default=0)
    n_interactions = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    artefact = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    trained_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="pz_one_active_model"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.pk} {self.algorithm} ({self.status})"


class VisitorRecommendations(models.Model):
    """The precomputed top-N of one visitor under one model version (the source of truth
    behind the cache). ``items`` is ``[[item id, score, reason item id], ...]``, best first."""

    personalization_visitor_lookups = ("visitor_id",)

    version = models.ForeignKey(RecommenderVersion, on_delete=models.CASCADE, related_name="+")
    visitor_id = models.UUIDField()
    items = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "visitor_id"], name="pz_visitor_recs_once")
        ]
        indexes = [models.Index(fields=["visitor_id"], name="pz_visitor_recs_visitor")]

    def __str__(self) -> str:
        return f"{self.visitor_id} (v{self.version_id})"


class SimilarItems(models.Model):
    """The precomputed neighbours of one item under one model version: ``[[item id, score]]``."""

    version = models.ForeignKey(RecommenderVersion, on_delete=models.CASCADE, related_name="+")
    item_id = models.CharField(max_length=64)
    items = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "item_id"], name="pz_similar_items_once")
        ]

    def __str__(self) -> str:
        return f"{self.item_id} (v{self.version_id})"


class RecommendationImpression(models.Model):
    """A list of recommendations shown to a visitor. Clicks are ``click`` events carrying the
    ``decision_id``; CTR per model version and placement joins the two."""

    personalization_visitor_lookups = ("visitor_id",)
    personalization_retention = ("created_at", "IMPRESSION_RETENTION_DAYS")

    decision_id = models.UUIDField(primary_key=True)
    visitor_id = models.UUIDField()
    placement = models.CharField(max_length=80, blank=True)
    version = models.ForeignKey(
        RecommenderVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, help_text="precomputed, on_the_fly or popular")
    items = models.JSONField(default=list)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["visitor_id"], name="pz_rec_impression_visitor"),
            models.Index(fields=["version", "placement"], name="pz_rec_impression_version"),
        ]

    def __str__(self) -> str:
        return f"{self.placement or 'recommendations'} for {self.visitor_id}"
