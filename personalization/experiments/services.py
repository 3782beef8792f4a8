"""Running experiments: definitions for the hot path, lifecycle, exposures and conversions.

The hot path reads compiled definitions memoised per process and content version (one query
after an edit, none after that) and hashes; it never reads an experiment table. Exposures are
written like impressions: buffered in Redis (one RPUSH per page or decide call) or inserted
directly without Redis.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..background import broker_configured
from ..consent.services import visitors_collecting_events
from ..context import VisitorContext, bump_content_version
from ..events.services import idempotency_key
from ..types import ArmAssignment, EventIn
from ..visitor_cache import (
    CACHE_ERRORS,
    cache_failed,
    drain_list,
    push_rows,
    redis_list,
    redis_list_key,
)
from .assignment import CompiledArm, CompiledExperiment, assign
from .bandits import initial_state
from .features import visitor_features
from .models import Arm, Conversion, Experiment, ExperimentLogEntry, Exposure, Goal
from .policies import LinUCB

BUFFER_KEY = "personalization:exposures:buffer"
FLUSH_LOCK_KEY = "personalization:exposures:flushing"
DEFINITIONS_TTL = 60.0


class LifecycleError(ValueError):
    """A lifecycle step that the experiment's state does not allow (e.g. starting a draft
    without arms, or resuming a completed experiment)."""


# -- definitions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledGoal:
    id: int
    event_type: str
    filters: tuple[tuple[str, Any], ...]
    count_repeats: bool
    value_property: str

    def matches(self, event: EventIn) -> bool:
        if event.type != self.event_type:
            return False
        return all(event.properties.get(name) == value for name, value in self.filters)


@dataclass(frozen=True)
class Definitions:
    running: tuple[CompiledExperiment, ...]
    status: dict[int, str]  # every experiment that has exposures to attribute to
    started_at: dict[int, datetime | None]
    goals: dict[int, tuple[CompiledGoal, ...]]
    feature_segments: dict[int, tuple[str, ...]]

    @property
    def goal_event_types(self) -> frozenset[str]:
        return frozenset(g.event_type for goals in self.goals.values() for g in goals)


_definitions: tuple[str, float, Definitions] | None = None


def compile_experiment(experiment: Experiment, arms: Sequence[Arm]) -> CompiledExperiment:
    state = experiment.policy_state or {}
    weights = tuple(state.get("weights", ())) if experiment.is_bandit else ()
    if len(weights) != len(arms):
        weights = ()
    linucb = None
    if experiment.policy == Experiment.Policy.LINUCB and state.get("linucb"):
        linucb = LinUCB.from_state(state["linucb"])
        if linucb.arms != len(arms):
            linucb = None
    return CompiledExperiment(
        id=experiment.pk,
        slug=experiment.slug,
        seed=experiment.seed,
        placements=tuple(experiment.placements or ()),
        arms=tuple(
            CompiledArm(
                arm.key,
                tuple((str(p), str(v or "")) for p, v in (arm.variants or {}).items()),
                arm.weight,
                arm.is_control,
            )
            for arm in arms
        ),
        traffic=experiment.traffic_percent / 100.0,
        holdout=experiment.holdout_percent / 100.0,
        segments=tuple(experiment.segments or ()),
        policy=experiment.policy,
        policy_version=experiment.policy_version,
        weights=weights,
        linucb=linucb,
        min_share=experiment.min_share if experiment.is_bandit else 0.0,
        default_audience_only=experiment.default_audience_only,
    )


def definitions(content_version: str) -> Definitions:
    """Running experiments and every goal, memoised for this content version (two queries
    after an experiment or content change, none after that)."""
    global _definitions
    if (
        _definitions is not None
        and _definitions[0] == content_version
        and time.monotonic() - _definitions[1] < DEFINITIONS_TTL
    ):
        return _definitions[2]
    experiments = list(
        Experiment.objects.exclude(status=Experiment.Status.DRAFT).prefetch_related("arms", "goals")
    )
    running = tuple(
        compile_experiment(e, list(e.arms.all()))
        for e in experiments
        if e.status == Experiment.Status.RUNNING and e.arms.all()
    )
    compiled = Definitions(
        running=running,
        status={e.pk: e.status for e in experiments},
        started_at={e.pk: e.started_at for e in experiments},
        goals={
            e.pk: tuple(
                CompiledGoal(
                    g.pk,
                    g.event_type,
                    tuple(sorted((g.filters or {}).items())),
                    g.count_repeats,
                    g.value_property,
                )
                for g in e.goals.all()
            )
            for e in experiments
        },
        feature_segments={
            e.pk: tuple((e.policy_state or {}).get("feature_segments", ())) for e in experiments
        },
    )
    _definitions = (content_version, time.monotonic(), compiled)
    return compiled


def assign_visitor(
    visitor_id: uuid.UUID,
    segments: Sequence[str],
    request,
    snapshot,
    now: datetime,
    content_version: str,
) -> tuple[ArmAssignment, ...]:
    """The visitor's arms in every running experiment (the visitor context calls this)."""
    defs = definitions(content_version)
    arms = []
    for experiment in defs.running:
        features: tuple[float, ...] = ()
        if experiment.linucb is not None:
            features = visitor_features(
                device=request.device_type or snapshot.device_type,
                now=now,
                visit_count=snapshot.visit_count,
                purchase_count=snapshot.purchase_count,
                segments=segments,
                feature_segments=defs.feature_segments.get(experiment.id, ()),
            )
        assignment = assign(experiment, visitor_id, segments, features)
        if assignment is not None:
            arms.append(assignment)
    return tuple(arms)


# -- exposures -----------------------------------------------------------------------------------


def exposure_row(
    context: VisitorContext, assignment: ArmAssignment, placement: str, decision_id: uuid.UUID
) -> dict:
    return {
        "decision_id": str(decision_id),
        "experiment_id": assignment.experiment,
        "arm": assignment.arm,
        "visitor_id": str(context.canonical_id or context.visitor_id),
        "placement": placement[:80],
        "propensity": assignment.propensity,
        "policy_version": assignment.policy_version,
        "features": list(assignment.features),
        "created_at": context.now.isoformat(),
    }


def record_exposures(
    context: VisitorContext, shown: Iterable[tuple[ArmAssignment, str, uuid.UUID]]
) -> int:
    """Log that arms were shown: ``(assignment, placement, decision id)`` per placement.

    Only for visitors whose consent lets us keep analytics, never in previews. One RPUSH with
    Redis (a beat task writes them), else one INSERT.
    """
    rows = exposure_rows(context, shown)
    if not rows:
        return 0
    if not (broker_configured() and push_rows(BUFFER_KEY, rows, _insert)):
        _insert(rows)  # no buffer, or Redis failed: the durable path
    return len(rows)


def exposure_rows(
    context: VisitorContext, shown: Iterable[tuple[ArmAssignment, str, uuid.UUID]]
) -> list[dict]:
    if context.visitor_id is None or not context.collects_events or context.preview:
        return []
    return [exposure_row(context, a, placement, d) for a, placement, d in shown]


def exposure_buffer_key() -> str | None:
    """The Redis list exposures wait in (None without Redis, or without a broker to run the
    beat task that drains it); no client is made for it."""
    return redis_list_key(BUFFER_KEY) if broker_configured() else None


def exposure_buffer():
    return redis_list(BUFFER_KEY) if broker_configured() else None


def flush_exposures(*, limit: int = 5000) -> int:
    """Write buffered exposures (idempotent: ids are decision ids, conflicts are ignored).
    Visitors who withdrew consent or were erased meanwhile, and deleted experiments, are
    dropped."""

    def write(rows: list[dict]) -> int:
        allowed = visitors_collecting_events({row["visitor_id"] for row in rows})
        known = set(Experiment.objects.values_list("pk", flat=True))
        return _insert(
            [
                row
                for row in rows
                if uuid.UUID(row["visitor_id"]) in allowed and row["experiment_id"] in known
            ]
        )

    return drain_list(BUFFER_KEY, FLUSH_LOCK_KEY, write, limit=limit)


def _buffer_pending() -> bool:
    buffer = exposure_buffer()
    if buffer is None:
        return False
    try:
        return bool(buffer[0].llen(buffer[1]))
    except CACHE_ERRORS as exc:  # Redis failed: nothing can be flushed from it now
        cache_failed(exc)
        return False


def _insert(rows: list[dict]) -> int:
    Exposure.objects.bulk_create(
        [Exposure(**row) for row in rows], ignore_conflicts=True, batch_size=1000
    )
    return len(rows)


# -- conversions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversionOutcome:
    experiment: int
    goal: int
    counted: bool
    reason: str = ""
    event_key: str = ""


def attribute_conversions(
    visitor_id: uuid.UUID,
    events: Sequence[EventIn],
    *,
    content_version: str,
    now: datetime | None = None,
) -> list[ConversionOutcome]:
    """Turn goal events into conversions for the experiments this visitor was exposed to.

    Attribution goes through the event's ``decision_id`` when it carries one (that exposure's
    experiment and arm), else through the visitor's first exposure in each experiment. A
    conversion counts only after the exposure, only while the experiment runs, and once per
    visitor and goal unless the goal counts repeats (a unique constraint, so a re-delivered
    event changes nothing). Events for draft, paused or completed experiments are ignored and
    the outcome says why. Costs nothing unless an event's type is some goal's.
    """
    defs = definitions(content_version)
    candidates = [e for e in events if e.type in defs.goal_event_types]
    if not candidates:
        return []
    decision_ids = set()
    for event in candidates:
        raw = event.properties.get("decision_id")
        try:
            decision_ids.add(uuid.UUID(str(raw))) if raw else None
        except ValueError:
            continue
    exposures = _exposures(visitor_id, decision_ids, set(defs.goals))
    if not exposures and _buffer_pending():
        flush_exposures()
        exposures = _exposures(visitor_id, decision_ids, set(defs.goals))
    by_decision = {row["decision_id"]: row for row in exposures}
    first: dict[int, dict] = {}
    for row in sorted(exposures, key=lambda r: r["created_at"]):
        if row["visitor_id"] == visitor_id:
            first.setdefault(row["experiment_id"], row)
    outcomes: list[ConversionOutcome] = []
    rows: list[tuple[int, Conversion]] = []
    now = now or timezone.now()
    for event in candidates:
        raw = event.properties.get("decision_id")
        tagged = _decision(raw, by_decision)
        for experiment_id, goals in defs.goals.items():
            for goal in goals:
                if not goal.matches(event):
                    continue
                exposure = tagged if tagged and tagged["experiment_id"] == experiment_id else None
                exposure = exposure or first.get(experiment_id)
                if exposure is None:
                    continue  # never exposed to this experiment: not a participant
                key = idempotency_key(event)
                status = defs.status.get(experiment_id)
                if status != Experiment.Status.RUNNING:
                    outcomes.append(
                        ConversionOutcome(
                            experiment_id, goal.id, False, f"experiment_{status}", key
                        )
                    )
                    continue
                if event.timestamp < exposure["created_at"]:
                    outcomes.append(
                        ConversionOutcome(experiment_id, goal.id, False, "before_exposure", key)
                    )
                    continue
                value = event.properties.get(goal.value_property) if goal.value_property else 0
                rows.append(
                    (
                        len(outcomes),
                        Conversion(
                            experiment_id=experiment_id,
                            goal_id=goal.id,
                            arm=exposure["arm"],
                            visitor_id=visitor_id,
                            decision_id=exposure["decision_id"],
                            event_key=key if goal.count_repeats else "",
                            value=float(value) if isinstance(value, int | float) else 0.0,
                            created_at=event.timestamp,
                        ),
                    )
                )
                outcomes.append(ConversionOutcome(experiment_id, goal.id, True, "", key))
    if rows:
        existing = set(
            Conversion.objects.filter(
                goal_id__in={r.goal_id for _, r in rows}, visitor_id=visitor_id
            ).values_list("goal_id", "event_key")
        )
        fresh = []
        for index, row in rows:
            if (row.goal_id, row.event_key) in existing:
                outcomes[index] = dataclasses.replace(
                    outcomes[index], counted=False, reason="already_counted"
                )
                continue
            existing.add((row.goal_id, row.event_key))
            fresh.append(row)
        Conversion.objects.bulk_create(fresh, ignore_conflicts=True)
    return outcomes


def _decision(raw, by_decision: dict) -> dict | None:
    if not raw:
        return None
    try:
        return by_decision.get(uuid.UUID(str(raw)))
    except ValueError:
        return None


def _exposures(visitor_id: uuid.UUID, decision_ids: set[uuid.UUID], experiments: set[int]):
    return list(
        Exposure.objects.filter(
            Q(visitor_id=visitor_id, experiment_id__in=experiments)
            | Q(decision_id__in=decision_ids, visitor_id=visitor_id)
        ).values("decision_id", "experiment_id", "arm", "visitor_id", "created_at")
    )


# -- lifecycle -----------------------------------------------------------------------------------


def log(experiment: Experiment, action: str, actor: str = "", **details) -> None:
    ExperimentLogEntry.objects.create(
        experiment=experiment, at=timezone.now(), actor=actor[:150], action=action, details=details
    )


TRANSITIONS = {
    "start": ({Experiment.Status.DRAFT}, Experiment.Status.RUNNING),
    "pause": ({Experiment.Status.RUNNING}, Experiment.Status.PAUSED),
    "resume": ({Experiment.Status.PAUSED}, Experiment.Status.RUNNING),
    "complete": (
        {Experiment.Status.RUNNING, Experiment.Status.PAUSED},
        Experiment.Status.COMPLETED,
    ),
}


def transition(
    experiment: Experiment, action: str, *, actor: str = "", now: datetime | None = None
) -> Experiment:
    """Start, pause, resume or complete. Invalid steps raise ``LifecycleError``."""
    if action not in TRANSITIONS:
        raise LifecycleError(f"Unknown action {action!r}.")
    allowed, target = TRANSITIONS[action]
    now = now or timezone.now()
    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
        if experiment.status not in allowed:
            raise LifecycleError(f"A {experiment.status} experiment cannot {action}.")
        if action == "start":
            validate_for_start(experiment)
            experiment.started_at = now
            if experiment.is_bandit and not experiment.policy_state:
                experiment.policy_state = initial_state(experiment, feature_segments())
        if action == "complete":
            experiment.ended_at = now
        experiment.status = target
        experiment.save(
            update_fields=["status", "started_at", "ended_at", "policy_state", "updated_at"]
        )
        log(experiment, action, actor)
        bump_content_version()
    return experiment


def feature_segments(limit: int = 8) -> list[str]:
    """Segments whose membership LinUCB sees as features: the highest-priority enabled ones."""
    from ..segments.models import Segment

    return list(
        Segment.objects.filter(status=Segment.Status.ENABLED)
        .order_by("-priority", "slug")
        .values_list("slug", flat=True)[:limit]
    )


def validate_for_start(experiment: Experiment) -> None:
    arms = list(experiment.arms.all())
    if len(arms) < 2:
        raise LifecycleError("An experiment needs at least two arms.")
    if not experiment.placements:
        raise LifecycleError("An experiment needs at least one placement.")
    if not any(goal.primary for goal in experiment.goals.all()):
        raise LifecycleError("An experiment needs a primary goal.")
    if sum(arm.is_control for arm in arms) != 1:
        raise LifecycleError("Exactly one arm must be the control.")


def promote_winner(experiment: Experiment, arm_key: str, *, actor: str = "") -> None:
    """Record the winner of a completed experiment. Making its variants the default content is
    done by the edge (``personalization.decisions.promote``), which owns the content."""
    if experiment.status != Experiment.Status.COMPLETED:
        raise LifecycleError("Only a completed experiment has a winner.")
    if not experiment.arms.filter(key=arm_key).exists():
        raise LifecycleError(f"No arm {arm_key!r}.")
    experiment.winner = arm_key
    experiment.save(update_fields=["winner", "updated_at"])
    log(experiment, "promote", actor, arm=arm_key)


def log_content_edit(placement_slug: str, *, actor: str = "") -> int:
    """A placement's content was edited: note it on every running or paused experiment on it."""
    touched = 0
    for experiment in Experiment.objects.filter(
        status__in=[Experiment.Status.RUNNING, Experiment.Status.PAUSED]
    ):
        if placement_slug in (experiment.placements or []):
            log(experiment, "content_edited", actor, placement=placement_slug)
            touched += 1
    return touched


def create_goal(experiment: Experiment, **fields) -> Goal:
    return Goal.objects.create(experiment=experiment, **fields)
