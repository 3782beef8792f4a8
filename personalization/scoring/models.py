"""Trained models as versioned artefacts, and the personas a clustering model found.

Nothing here is keyed by a visitor: what a model says about a visitor (the persona key and the
0-100 scores) lives on ``VisitorProfile``, so export and erasure cover it with the profile.
"""

from __future__ import annotations

from django.db import models


class ModelVersion(models.Model):
    """One training run of one model: its artefact, metrics, training window and progress."""

    class Kind(models.TextChoices):
        PERSONAS = "personas", "Personas (clustering)"
        SCORE = "score", "Predictive score"

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # "personas", or the score's name as it appears in predicted_scores ("conversion", "churn").
    name = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINING)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    trained_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    # The data the model saw: features as of cut-offs inside this window.
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    features = models.JSONField(default=dict, blank=True)  # FeatureSpec.as_dict()
    metrics = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    artefact = models.BinaryField(null=True, blank=True, editable=False)
    trained_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="pz_model_version_unique"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(is_active=True), name="pz_model_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class Persona(models.Model):
    """A cluster of visitors, with a key that survives retraining and a name editors choose.

    ``key`` is what profiles store and what the ``persona`` condition matches; the name and
    description are for people. A retrain that finds no similar cluster retires the persona.
    """

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    name_edited = models.BooleanField(default=False, editable=False)
    description = models.CharField(max_length=300, blank=True, editable=False)
    model = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="personas"
    )
    cluster = models.IntegerField(null=True, blank=True, editable=False)
    # Mean of each feature over the cluster's members, by feature name (unscaled).
    centroid = models.JSONField(default=dict, blank=True, editable=False)
    size = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = [models.F("retired_at").asc(nulls_first=True), "-size", "key"]

    def __str__(self) -> str:
        return self.name
