"""Recomputing bandit policies from logged exposures and rewards (a beat task calls this).

Serving never runs these: it reads the weights (or the LinUCB model) compiled with the running
experiments. Each update bumps ``policy_version``, which every exposure logs with its propensity.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..conf import get_setting
from .assignment import HOLDOUT
from .features import feature_names
from .models import Conversion, Experiment, Exposure
from .policies import LinUCB, epsilon_greedy_weights, thompson_weights


def initial_state(experiment: Experiment, feature_segments: list[str]) -> dict:
    arms = experiment.arms.count()
    state: dict = {"weights": [1.0 / arms] * arms if arms else []}
    if experiment.policy == Experiment.Policy.LINUCB:
        dimensions = len(feature_names(feature_segments))
        state["linucb"] = LinUCB.create(arms, dimensions, experiment.linucb_alpha).to_state()
        state["feature_segments"] = list(feature_segments)
        state["watermark"] = None
    return state


def arm_counts(experiment: Experiment, keys: list[str]) -> tuple[list[int], list[int]]:
    """(converted visitors, exposed visitors) per arm, primary goal."""
    exposed = dict(
        Exposure.objects.filter(experiment=experiment)
        .exclude(arm=HOLDOUT)
        .values("arm")
        .annotate(n=Count("visitor_id", distinct=True))
        .values_list("arm", "n")
    )
    primary = experiment.goals.filter(primary=True).first()
    converted = {}
    if primary is not None:
        converted = dict(
            Conversion.objects.filter(goal=primary)
            .values("arm")
            .annotate(n=Count("visitor_id", distinct=True))
            .values_list("arm", "n")
        )
    return [converted.get(k, 0) for k in keys], [exposed.get(k, 0) for k in keys]


def update_bandit(experiment: Experiment, *, now: datetime | None = None) -> dict:
    """New weights (and LinUCB model) for one running bandit; returns the new state."""
    now = now or timezone.now()
    keys = list(experiment.arms.values_list("key", flat=True))
    state = dict(experiment.policy_state or {})
    successes, trials = arm_counts(experiment, keys)
    seed = experiment.policy_version + 1
    if experiment.policy == Experiment.Policy.THOMPSON:
        state["weights"] = thompson_weights(
            successes, trials, min_share=experiment.min_share, warmup=experiment.warmup, seed=seed
        )
    elif experiment.policy == Experiment.Policy.EPSILON_GREEDY:
        state["weights"] = epsilon_greedy_weights(
            successes,
            trials,
            epsilon=experiment.epsilon,
            min_share=experiment.min_share,
            warmup=experiment.warmup,
        )
    elif experiment.policy == Experiment.Policy.LINUCB:
        state = _update_linucb(experiment, state, keys, now)
    state["counts"] = {"successes": successes, "trials": trials}
    state["updated_at"] = now.isoformat()
    return state


def _update_linucb(experiment: Experiment, state: dict, keys: list[str], now: datetime) -> dict:
    """Fold first exposures whose reward window has closed since the last update, once each."""
    if "linucb" not in state:
        state.update(initial_state(experiment, []))
    model = LinUCB.from_state(state["linucb"])
    delay = timedelta(seconds=get_setting("BANDIT_REWARD_DELAY_SECONDS"))
    closed = now - delay
    watermark = parse_datetime(state["watermark"]) if state.get("watermark") else None
    first = (
        Exposure.objects.filter(experiment=experiment)
        .exclude(arm=HOLDOUT)
        .values("visitor_id")
        .annotate(first=Min("created_at"))
        .filter(first__lte=closed)
    )
    if watermark is not None:
        first = first.filter(first__gt=watermark)
    firsts = {row["visitor_id"]: row["first"] for row in first}
    if firsts:
        primary = experiment.goals.filter(primary=True).first()
        rewarded = set()
        if primary is not None:
            rewarded = set(
                Conversion.objects.filter(goal=primary, visitor_id__in=list(firsts)).values_list(
                    "visitor_id", flat=True
                )
            )
        rows = Exposure.objects.filter(
            experiment=experiment, visitor_id__in=list(firsts)
        ).values_list("visitor_id", "arm", "features", "created_at")
        index = {key: i for i, key in enumerate(keys)}
        for visitor_id, arm, features, created_at in sorted(rows, key=lambda r: r[3]):
            if created_at != firsts.get(visitor_id) or arm not in index:
                continue
            if len(features) != model.dimensions:
                continue
            model.update(index[arm], features, 1.0 if visitor_id in rewarded else 0.0)
            firsts.pop(visitor_id)
        state["watermark"] = closed.isoformat()
    state["linucb"] = model.to_state()
    state["weights"] = [1.0 / len(keys)] * len(keys)  # the split is decided per visitor
    return state


def update_bandits(*, now: datetime | None = None) -> dict[str, int]:
    """Every running bandit: recompute, save, bump the policy version. Returns slug -> version."""
    versions = {}
    for experiment_id in (
        Experiment.objects.filter(status=Experiment.Status.RUNNING)
        .exclude(policy=Experiment.Policy.FIXED)
        .values_list("pk", flat=True)
    ):
        with transaction.atomic():
            experiment = Experiment.objects.select_for_update().get(pk=experiment_id)
            experiment.policy_state = update_bandit(experiment, now=now)
            experiment.policy_version += 1
            experiment.save(update_fields=["policy_state", "policy_version", "updated_at"])
        versions[experiment.slug] = experiment.policy_version
    return versions
