"""Results of an experiment: counts from the exposure and conversion tables, then ``stats``.

The unit is the exposed visitor: an arm's trials are the distinct visitors exposed to it, its
successes the distinct visitors who reached the goal after exposure (events, for goals that
count repeats, are reported beside).

Counting scans the logs, so it is not done per request: ``compute_results`` (the beat task
``personalization.compute_experiment_results``, every 5 minutes) stores the counts in
``ResultCount`` and ``experiment_results`` reads them (a few small queries) and says when they
were computed (``computed_at``; None before the first run).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Min, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from . import stats
from .assignment import HOLDOUT
from .models import Conversion, Experiment, Exposure, ResultCount

# A completed experiment is counted once more this long after its end (late buffered
# exposures), then no longer.
SETTLE_AFTER_END = timedelta(minutes=15)


def planned_sample(experiment: Experiment, arms: int) -> int:
    """Visitors per arm the power calculation asks for (alpha split over the comparisons)."""
    comparisons = max(arms - 1, 1)
    try:
        return stats.sample_size(
            experiment.baseline_rate,
            experiment.minimum_effect,
            alpha=experiment.alpha / comparisons,
            power=experiment.power,
        )
    except ValueError:
        return 0


def _fmt(value: float | None) -> float | None:
    return None if value is None else round(float(value), 10)


@dataclass
class Counts:
    """What the statistics need, counted from the logs or read back from ``ResultCount``."""

    exposed: dict[str, int] = field(default_factory=dict)  # arm: distinct visitors
    # goal id: arm: {"visitors", "events", "value"}
    conversions: dict[int, dict[str, dict]] = field(default_factory=lambda: defaultdict(dict))
    # goal id: arm: (sum of per-visitor value, sum of its squares)
    revenue: dict[int, dict[str, tuple[float, float]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    exposed_by_day: dict[date, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    converted_by_day: dict[date, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )


def count_from_logs(experiment: Experiment) -> Counts:
    """The counts, from the exposure and conversion tables: a fixed number of aggregate
    queries whatever the traffic, but each scans the experiment's rows (the beat task's job)."""
    counts = Counts()
    counts.exposed = dict(
        Exposure.objects.filter(experiment=experiment)
        .values("arm")
        .annotate(n=Count("visitor_id", distinct=True))
        .values_list("arm", "n")
    )
    for row in (
        Conversion.objects.filter(experiment=experiment)
        .values("goal_id", "arm")
        .annotate(
            visitors=Count("visitor_id", distinct=True), events=Count("id"), value=Sum("value")
        )
    ):
        counts.conversions[row["goal_id"]][row["arm"]] = {
            "visitors": row["visitors"],
            "events": row["events"],
            "value": row["value"] or 0.0,
        }
    goals = list(experiment.goals.all())
    for goal in goals:
        if not goal.value_property:
            continue
        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for arm, value in (
            Conversion.objects.filter(experiment=experiment, goal=goal)
            .values("arm", "visitor_id")
            .annotate(total=Sum("value"))
            .values_list("arm", "total")
        ):
            sums[arm][0] += value or 0.0
            sums[arm][1] += (value or 0.0) ** 2
        counts.revenue[goal.pk] = {arm: (s, q) for arm, (s, q) in sums.items()}
    first_seen = (
        Exposure.objects.filter(experiment=experiment)
        .values("arm", "visitor_id")
        .annotate(first=Min("created_at"))
        .values_list("arm", "first")
    )
    for arm, first in first_seen:
        counts.exposed_by_day[timezone.localdate(first)][arm] += 1
    primary = next((g for g in goals if g.primary), None)
    if primary is not None:
        for arm, day, n in (
            Conversion.objects.filter(goal=primary)
            .annotate(day=TruncDate("created_at"))
            .values("arm", "day")
            .annotate(n=Count("visitor_id", distinct=True))
            .values_list("arm", "day", "n")
        ):
            counts.converted_by_day[day][arm] += n
    return counts


def store_counts(experiment: Experiment, counts: Counts, *, now: datetime) -> int:
    """Replace the experiment's stored counts (idempotent: the same logs give the same rows)."""
    primary = experiment.goals.filter(primary=True).values_list("pk", flat=True).first()
    rows = [
        ResultCount(experiment=experiment, arm=a, visitors=n) for a, n in counts.exposed.items()
    ]
    for goal_id, arms in counts.conversions.items():
        for arm, c in arms.items():
            total, squares = counts.revenue.get(goal_id, {}).get(arm, (0.0, 0.0))
            rows.append(
                ResultCount(
                    experiment=experiment,
                    goal_id=goal_id,
                    arm=arm,
                    visitors=c["visitors"],
                    events=c["events"],
                    value=c["value"],
                    value_squares=squares,
                )
            )
    for day, arms in counts.exposed_by_day.items():
        rows += [
            ResultCount(experiment=experiment, arm=a, day=day, visitors=n) for a, n in arms.items()
        ]
    if primary is not None:
        for day, arms in counts.converted_by_day.items():
            rows += [
                ResultCount(experiment=experiment, goal_id=primary, arm=a, day=day, visitors=n)
                for a, n in arms.items()
            ]
    with transaction.atomic():
        ResultCount.objects.filter(experiment=experiment).delete()
        ResultCount.objects.bulk_create(rows, batch_size=1000)
        Experiment.objects.filter(pk=experiment.pk).update(results_computed_at=now)
    experiment.results_computed_at = now
    return len(rows)


def stored_counts(experiment: Experiment) -> Counts:
    """The counts the beat task stored (empty before its first run): one query."""
    counts = Counts()
    goals = {g.pk: g for g in experiment.goals.all()}
    for row in ResultCount.objects.filter(experiment=experiment):
        if row.day is not None:
            target = counts.exposed_by_day if row.goal_id is None else counts.converted_by_day
            target[row.day][row.arm] += row.visitors
        elif row.goal_id is None:
            counts.exposed[row.arm] = row.visitors
        else:
            counts.conversions[row.goal_id][row.arm] = {
                "visitors": row.visitors,
                "events": row.events,
                "value": row.value,
            }
            goal = goals.get(row.goal_id)
            if goal is not None and goal.value_property:
                counts.revenue[row.goal_id][row.arm] = (row.value, row.value_squares)
    return counts


def compute_results(*, now: datetime | None = None) -> dict[str, int]:
    """Count every experiment that is due and store the counts: {slug: rows stored}.
    Idempotent; the beat task ``personalization.compute_experiment_results`` calls it."""
    now = now or timezone.now()
    done = {}
    for experiment in Experiment.objects.exclude(status=Experiment.Status.DRAFT):
        if (
            experiment.status == Experiment.Status.COMPLETED
            and experiment.results_computed_at is not None
            and experiment.ended_at is not None
            and experiment.results_computed_at > experiment.ended_at + SETTLE_AFTER_END
        ):
            continue  # settled: its counts no longer change
        done[experiment.slug] = store_counts(experiment, count_from_logs(experiment), now=now)
    return done


def experiment_results(experiment: Experiment, *, counts: Counts | None = None) -> dict[str, Any]:
    """The results from the stored counts (or the ``counts`` given)."""
    counts = counts if counts is not None else stored_counts(experiment)
    arms = list(experiment.arms.all())
    goals = list(experiment.goals.all())
    control = next((a.key for a in arms if a.is_control), arms[0].key if arms else None)
    keys = [a.key for a in arms]
    exposed, conversions, revenue = counts.exposed, counts.conversions, counts.revenue
    if exposed.get(HOLDOUT):
        keys.append(HOLDOUT)

    planned = planned_sample(experiment, len(arms))
    goal_results = []
    for goal in goals:
        rows = []
        for key in keys:
            n = exposed.get(key, 0)
            c = conversions[goal.pk].get(key, {})
            x = c.get("visitors", 0)
            low, high = stats.proportion_ci(x, n, experiment.alpha)
            row = {
                "arm": key,
                "exposed": n,
                "converted": x,
                "events": c.get("events", 0),
                "rate": _fmt(x / n) if n else None,
                "rate_ci": [_fmt(low), _fmt(high)] if n else None,
                "value": _fmt(c.get("value") or 0.0),
            }
            if goal.value_property and n:
                total, squares = revenue[goal.pk].get(key, (0.0, 0.0))
                mean, variance = stats.mean_and_variance(total, squares, n)
                row["revenue_per_visitor"] = _fmt(mean)
                row["_variance"] = variance
            rows.append(row)
        _compare(rows, control, experiment, goal.value_property, planned)
        for row in rows:
            row.pop("_variance", None)
        goal_results.append(
            {
                "id": goal.pk,
                "name": goal.name,
                "event_type": goal.event_type,
                "primary": goal.primary,
                "arms": rows,
            }
        )

    srm = None
    if not experiment.is_bandit and len(arms) > 1:
        observed = [exposed.get(a.key, 0) for a in arms]
        check = stats.sample_ratio_mismatch(observed, [a.weight for a in arms])
        srm = {
            "chi_squared": _fmt(check.chi_squared),
            "p_value": _fmt(check.p_value),
            "mismatch": check.mismatch,
        }
    return {
        "id": experiment.pk,
        "slug": experiment.slug,
        "name": experiment.name,
        "status": experiment.status,
        "policy": experiment.policy,
        "policy_version": experiment.policy_version,
        "started_at": experiment.started_at,
        "ended_at": experiment.ended_at,
        "winner": experiment.winner or None,
        "control": control,
        "planned_sample_per_arm": planned,
        "srm": srm,
        "allocation": _allocation(experiment, arms),
        "goals": goal_results,
        "series": _series(counts),
        "computed_at": experiment.results_computed_at,
    }


def _compare(rows, control, experiment, value_property, planned) -> None:
    base = next((r for r in rows if r["arm"] == control), None)
    treated = [r for r in rows if r["arm"] not in (control, HOLDOUT)]
    if base is None or not base["exposed"]:
        return
    p_values = []
    for row in treated:
        if not row["exposed"]:
            continue
        test = stats.two_proportion_test(
            base["converted"], base["exposed"], row["converted"], row["exposed"], experiment.alpha
        )
        bayes = stats.bayes_compare(
            base["converted"], base["exposed"], row["converted"], row["exposed"]
        )
        always_valid = stats.msprt_p_value(
            base["converted"], base["exposed"], row["converted"], row["exposed"]
        )
        row.update(
            difference=_fmt(test.difference),
            difference_ci=[_fmt(v) for v in test.difference_ci],
            lift=_fmt(test.relative_lift),
            lift_ci=[_fmt(v) for v in test.lift_ci] if test.lift_ci else None,
            p_value=_fmt(test.p_value),
            always_valid_p_value=_fmt(always_valid),
            probability_to_beat_control=_fmt(bayes.probability_to_beat),
            expected_loss=_fmt(bayes.expected_loss),
        )
        if value_property and base["exposed"] > 1 and row["exposed"] > 1:
            welch = stats.welch_test(
                base["revenue_per_visitor"],
                base["_variance"],
                base["exposed"],
                row["revenue_per_visitor"],
                row["_variance"],
                row["exposed"],
                experiment.alpha,
            )
            row["revenue"] = {
                "difference": _fmt(welch.difference),
                "difference_ci": [_fmt(v) for v in welch.difference_ci],
                "t": _fmt(welch.t),
                "p_value": _fmt(welch.p_value),
            }
        p_values.append((row, test.p_value))
    adjusted = stats.holm([p for _, p in p_values])
    for (row, _), p_adj in zip(p_values, adjusted, strict=True):
        row["p_value_adjusted"] = _fmt(p_adj)
        reached = min(row["exposed"], base["exposed"]) >= planned > 0
        significant = (reached and p_adj < experiment.alpha) or (
            row["always_valid_p_value"] < experiment.alpha / max(len(p_values), 1)
        )
        row["verdict"] = (
            ("better" if row["difference"] > 0 else "worse")
            if significant
            else ("no_difference_detected" if reached else "not_yet_conclusive")
        )


def _allocation(experiment: Experiment, arms) -> list[dict]:
    weights = (experiment.policy_state or {}).get("weights") if experiment.is_bandit else None
    if not weights or len(weights) != len(arms):
        total = sum(a.weight for a in arms) or 1.0
        weights = [a.weight / total for a in arms]
    return [{"arm": a.key, "share": _fmt(w)} for a, w in zip(arms, weights, strict=True)]


def _series(counts: Counts) -> list[dict]:
    """Cumulative exposed visitors and primary conversions per arm and day (for the chart)."""
    exposures, converted = counts.exposed_by_day, counts.converted_by_day
    series, running_e, running_c = [], defaultdict(int), defaultdict(int)
    for day in sorted(set(exposures) | set(converted)):
        for arm, n in exposures.get(day, {}).items():
            running_e[arm] += n
        for arm, n in converted.get(day, {}).items():
            running_c[arm] += n
        series.append(
            {
                "date": day.isoformat(),
                "arms": {
                    arm: {
                        "exposed": running_e[arm],
                        "converted": running_c[arm],
                        "rate": _fmt(running_c[arm] / running_e[arm]) if running_e[arm] else None,
                    }
                    for arm in sorted(set(running_e) | set(running_c))
                },
            }
        )
    return series
