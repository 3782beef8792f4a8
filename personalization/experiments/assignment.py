"""Deterministic, sticky assignment: a hash of (experiment seed, visitor id) and nothing else.

Three independent hashes decide whether a visitor takes part (traffic), whether they are held
out, and which arm they get. Participation is ``bucket < traffic share``, so raising the share
only adds visitors; the arm hash ignores the traffic share, so nobody already in moves. Bandit
arms hash the policy version in too: sticky while the weights stay, re-drawn when they change,
and the probability of the drawn arm is logged as its propensity.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..types import ArmAssignment
from .policies import LinUCB, linucb_probabilities

HOLDOUT = "holdout"
_SCALE = float(1 << 60)


def bucket(seed: str, visitor_id: uuid.UUID | str, salt: str) -> float:
    """A uniform number in [0, 1), the same for the same inputs everywhere."""
    digest = hashlib.blake2b(f"{seed}|{salt}|{visitor_id}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 4) / _SCALE


def pick(weights: Sequence[float], u: float) -> int:
    """Index of the cumulative weight range ``u`` (in [0, 1)) falls into."""
    total = sum(weights)
    if total <= 0:
        return int(u * len(weights))
    cumulative = list(itertools.accumulate(w / total for w in weights))
    return min(bisect.bisect_right(cumulative, u), len(weights) - 1)


@dataclass(frozen=True)
class CompiledArm:
    key: str
    variants: tuple[tuple[str, str], ...]  # (placement, variant id or "")
    weight: float = 1.0
    is_control: bool = False


@dataclass(frozen=True)
class CompiledExperiment:
    """What the hot path needs about a running experiment: plain values, no model instances."""

    id: int
    slug: str
    seed: str
    placements: tuple[str, ...]
    arms: tuple[CompiledArm, ...]
    traffic: float = 1.0  # share, 0..1
    holdout: float = 0.0
    segments: tuple[str, ...] = ()
    policy: str = "fixed"
    policy_version: int = 0
    weights: tuple[float, ...] = ()  # bandit weights by arm; empty = the arms' own weights
    linucb: LinUCB | None = None
    min_share: float = 0.0
    default_audience_only: bool = False
    feature_names: tuple[str, ...] = field(default=())

    def arm_weights(self) -> tuple[float, ...]:
        return self.weights or tuple(arm.weight for arm in self.arms)


def assign(
    experiment: CompiledExperiment,
    visitor_id: uuid.UUID,
    segments: Sequence[str],
    features: Sequence[float] = (),
) -> ArmAssignment | None:
    """The visitor's arm, the holdout, or None (not targeted, or outside the traffic share)."""
    if experiment.segments and not any(slug in segments for slug in experiment.segments):
        return None
    seed = experiment.seed
    if bucket(seed, visitor_id, "traffic") >= experiment.traffic:
        return None
    if experiment.holdout and bucket(seed, visitor_id, "holdout") < experiment.holdout:
        defaults = tuple((placement, "") for placement in experiment.placements)
        return ArmAssignment(
            experiment.id,
            HOLDOUT,
            1.0,
            experiment.policy_version,
            defaults,
            default_audience_only=experiment.default_audience_only,
        )
    u = bucket(seed, visitor_id, f"arm:{experiment.policy_version}")
    if experiment.linucb is not None:
        probabilities = linucb_probabilities(experiment.linucb, features, experiment.min_share)
    else:
        weights = experiment.arm_weights()
        total = sum(weights) or 1.0
        probabilities = [w / total for w in weights]
    index = pick(probabilities, u)
    arm = experiment.arms[index]
    return ArmAssignment(
        experiment.id,
        arm.key,
        probabilities[index],
        experiment.policy_version,
        arm.variants,
        tuple(features) if experiment.linucb is not None else (),
        experiment.default_audience_only,
    )


def factorial_arms(factors: Mapping[str, Sequence[str]]) -> list[dict[str, str]]:
    """Every combination of one variant per placement (2 x 2 x 2 = 8 cells), in a stable order."""
    placements = list(factors)
    return [
        dict(zip(placements, combo, strict=True))
        for combo in itertools.product(*(factors[p] for p in placements))
    ]
