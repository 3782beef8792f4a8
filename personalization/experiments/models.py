"""Experiments over personalized placements, what visitors were shown, and what they did next."""

from __future__ import annotations

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from modelcluster.fields import ParentalKey
from modelcluster.models import ClusterableModel


def new_seed() -> str:
    return secrets.token_hex(8)


class Experiment(ClusterableModel):
    """A test of the variants of one placement (A/B/n) or of several at once (full factorial).

    Assignment hashes (``seed``, visitor id), so it needs no table: the same visitor gets the
    same arm in every process, after restarts, and when ``traffic_percent`` is raised.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"

    class Policy(models.TextChoices):
        FIXED = "fixed", "Fixed split (A/B/n)"
        EPSILON_GREEDY = "epsilon_greedy", "Bandit: epsilon-greedy"
        THOMPSON = "thompson", "Bandit: Thompson sampling"
        LINUCB = "linucb", "Contextual bandit: LinUCB"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=80, unique=True)
    hypothesis = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    placements = models.JSONField(
        default=list, help_text="Slugs of the personalized content the arms choose variants of."
    )
    seed = models.CharField(max_length=32, default=new_seed, editable=False)
    traffic_percent = models.FloatField(
        default=100.0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Share of eligible visitors in the experiment; raising it never moves anyone.",
    )
    holdout_percent = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0), MaxValueValidator(50)],
        help_text="Share of participants kept on the default content, as a baseline.",
    )
    segments = models.JSONField(
        default=list, blank=True, help_text="Only visitors in any of these segments take part."
    )
    default_audience_only = models.BooleanField(
        default=False,
        verbose_name="only visitors who would see the default content",
        help_text="Leave segment-targeted variants alone: visitors a variant targets see it, "
        "and only the others take part.",
    )
    policy = models.CharField(max_length=16, choices=Policy.choices, default=Policy.FIXED)
    epsilon = models.FloatField(
        default=0.1, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    min_share = models.FloatField(
        default=0.05,
        validators=[MinValueValidator(0), MaxValueValidator(0.5)],
        help_text="Bandits never give an arm less than this share of traffic.",
    )
    warmup = models.PositiveIntegerField(
        default=100, help_text="Exposed visitors per arm before a bandit moves off an even split."
    )
    linucb_alpha = models.FloatField(default=1.0, validators=[MinValueValidator(0)])
    policy_version = models.PositiveIntegerField(default=0, editable=False)
    policy_state = models.JSONField(default=dict, blank=True, editable=False)
    # Power calculation, shown before the start and used to say when results are conclusive.
    baseline_rate = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.0001), MaxValueValidator(0.9999)]
    )
    minimum_effect = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.001), MaxValueValidator(10)],
        help_text="Smallest relative lift worth detecting (0.1 = +10%).",
    )
    alpha = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.0001), MaxValueValidator(0.5)]
    )
    power = models.FloatField(
        default=0.8, validators=[MinValueValidator(0.5), MaxValueValidator(0.999)]
    )
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    winner = models.CharField(max_length=16, blank=True, editable=False)
    results_computed_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the beat task last counted the results (``ResultCount``).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_bandit(self) -> bool:
        return self.policy != self.Policy.FIXED


class Arm(models.Model):
    """One cell: which variant each placement shows ("" is the placement's default content)."""

    experiment = ParentalKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    key = models.SlugField(max_length=16)
    name = models.CharField(max_length=120, blank=True)
    variants = models.JSONField(default=dict, help_text="{placement slug: variant id or ''}")
    weight = models.FloatField(default=1.0, validators=[MinValueValidator(0)])
    is_control = models.BooleanField(default=False)
    sort_order = models.IntegerField(default=0, editable=False)

    class Meta:
        ordering = ["sort_order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "key"], name="pz_arm_key_unique")
        ]

    def __str__(self) -> str:
        return self.name or self.key


class Goal(models.Model):
    """What counts as a conversion: an event type, optionally with property values."""

    experiment = ParentalKey(Experiment, on_delete=models.CASCADE, related_name="goals")
    name = models.CharField(max_length=120)
    event_type = models.CharField(max_length=64)
    filters = models.JSONField(
        default=dict,
        blank=True,
        help_text='Property values the event must carry, e.g. {"form": "signup"}.',
    )
    primary = models.BooleanField(default=False)
    count_repeats = models.BooleanField(
        default=False, help_text="Count every matching event, not only a visitor's first."
    )
    value_property = models.CharField(
        max_length=64, blank=True, help_text="Property holding revenue, e.g. 'value' for purchases."
    )
    sort_order = models.IntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-primary", "sort_order", "pk"]

    def __str__(self) -> str:
        return self.name


class Exposure(models.Model):
    """A visitor was shown an arm (server render or decide): the unit of analysis, with the
    propensity and policy version that off-policy evaluation needs."""

    personalization_visitor_lookups = ("visitor_id",)

    decision_id = models.UUIDField(primary_key=True)
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    arm = models.CharField(max_length=16)
    visitor_id = models.UUIDField()
    placement = models.CharField(max_length=80)
    propensity = models.FloatField()
    policy_version = models.PositiveIntegerField(default=0)
    features = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["experiment", "visitor_id"], name="pz_exposure_visitor"),
            models.Index(fields=["experiment", "created_at"], name="pz_exposure_time"),
            models.Index(fields=["visitor_id"], name="pz_exposure_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.experiment_id}:{self.arm}"


class Conversion(models.Model):
    """A goal reached after an exposure while the experiment ran. ``event_key`` is empty for
    goals that count once per visitor, which the unique constraint then enforces."""

    personalization_visitor_lookups = ("visitor_id",)

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="+")
    arm = models.CharField(max_length=16)
    visitor_id = models.UUIDField()
    decision_id = models.UUIDField(null=True, blank=True)
    event_key = models.CharField(max_length=80, blank=True)
    value = models.FloatField(default=0.0)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["goal", "visitor_id", "event_key"], name="pz_conversion_once"
            )
        ]
        indexes = [
            models.Index(fields=["experiment", "goal", "arm"], name="pz_conversion_arm"),
            models.Index(fields=["visitor_id"], name="pz_conversion_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.experiment_id}:{self.arm}:{self.goal_id}"


class ResultCount(models.Model):
    """Aggregate counts of an experiment per arm, goal and day, written by the
    ``personalization.compute_experiment_results`` beat task from the exposure and conversion
    logs; the results page and API read these instead of scanning the logs per request.

    ``goal`` empty: exposures (``visitors`` = distinct visitors exposed); else that goal's
    conversions (distinct visitors, events, value, and the sum of each visitor's value squared
    for the revenue test). ``day`` empty: totals; else that day's new visitors (the chart).
    Not keyed by visitor: nothing here joins export or erasure (an erased visitor leaves the
    counts at the next run)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    arm = models.CharField(max_length=16)
    goal = models.ForeignKey(
        Goal, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    day = models.DateField(null=True, blank=True)
    visitors = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    value = models.FloatField(default=0.0)
    value_squares = models.FloatField(default=0.0)

    class Meta:
        indexes = [models.Index(fields=["experiment", "goal"], name="pz_resultcount_goal")]

    def __str__(self) -> str:
        return f"{self.experiment_id}:{self.arm}:{self.goal_id or '-'}:{self.day or 'total'}"


class ExperimentLogEntry(models.Model):
    """Who changed what and when: lifecycle steps, edits, content edits during a run."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField()
    actor = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor or 'system'}"
