"""Bandit policies as plain functions over counts and feature vectors.

Serving only reads the weights these produce (or, for LinUCB, scores a small model); a beat
task recomputes them from logged exposures and rewards. Every policy keeps each arm at or above
``min_share``, so off-policy estimates stay defined and no arm is starved forever.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def apply_floor(probabilities: Sequence[float], min_share: float) -> list[float]:
    """Mix with uniform so that every arm gets at least ``min_share`` (capped at 1/K)."""
    k = len(probabilities)
    floor = min(max(min_share, 0.0), 1.0 / k)
    total = sum(probabilities) or 1.0
    return [floor + (1.0 - k * floor) * (p / total) for p in probabilities]


def epsilon_greedy_weights(
    successes: Sequence[float],
    trials: Sequence[float],
    *,
    epsilon: float,
    min_share: float = 0.0,
    warmup: int = 0,
) -> list[float]:
    """The best observed arm gets ``1 - epsilon``; everyone shares ``epsilon`` evenly.

    Until every arm has ``warmup`` trials the split is even. Ties go to the first arm."""
    k = len(trials)
    if any(n < warmup for n in trials) or not any(trials):
        return [1.0 / k] * k
    rates = [s / n if n else 0.0 for s, n in zip(successes, trials, strict=True)]
    best = max(range(k), key=lambda i: (rates[i], -i))
    weights = [epsilon / k] * k
    weights[best] += 1.0 - epsilon
    return apply_floor(weights, min_share)


def thompson_weights(
    successes: Sequence[float],
    trials: Sequence[float],
    *,
    min_share: float = 0.0,
    warmup: int = 0,
    draws: int = 20000,
    seed: int = 0,
) -> list[float]:
    """Each arm's probability of being best under Beta(1 + s, 1 + n - s) posteriors.

    Serving draws an arm with these probabilities: that is Thompson sampling done in batch,
    which is what makes a sticky, cacheable, logged-propensity assignment possible.
    """
    k = len(trials)
    if any(n < warmup for n in trials):
        return [1.0 / k] * k
    rng = np.random.default_rng(seed)
    samples = np.column_stack(
        [
            rng.beta(1 + s, 1 + max(n - s, 0), size=draws)
            for s, n in zip(successes, trials, strict=True)
        ]
    )
    wins = np.bincount(samples.argmax(axis=1), minlength=k) / draws
    return apply_floor([float(w) for w in wins], min_share)


@dataclass
class LinUCB:
    """Disjoint LinUCB (Li et al., 2010): one ridge regression per arm, kept as the inverse
    of A = I + sum x x^T (updated by Sherman-Morrison in O(d^2)) and b = sum r x."""

    a_inv: np.ndarray  # (K, d, d)
    b: np.ndarray  # (K, d)
    alpha: float = 1.0

    @classmethod
    def create(cls, arms: int, dimensions: int, alpha: float = 1.0) -> LinUCB:
        return cls(
            np.repeat(np.eye(dimensions)[None, :, :], arms, axis=0),
            np.zeros((arms, dimensions)),
            alpha,
        )

    @property
    def arms(self) -> int:
        return self.b.shape[0]

    @property
    def dimensions(self) -> int:
        return self.b.shape[1]

    def scores(self, x: Sequence[float]) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        theta = np.einsum("kij,kj->ki", self.a_inv, self.b)
        spread = np.sqrt(np.maximum(np.einsum("i,kij,j->k", x, self.a_inv, x), 0.0))
        return theta @ x + self.alpha * spread

    def update(self, arm: int, x: Sequence[float], reward: float) -> None:
        x = np.asarray(x, dtype=float)
        a_inv = self.a_inv[arm]
        ax = a_inv @ x
        self.a_inv[arm] = a_inv - np.outer(ax, ax) / (1.0 + x @ ax)
        self.b[arm] += reward * x

    def to_state(self) -> dict:
        return {"a_inv": self.a_inv.tolist(), "b": self.b.tolist(), "alpha": self.alpha}

    @classmethod
    def from_state(cls, state: dict) -> LinUCB:
        return cls(np.asarray(state["a_inv"]), np.asarray(state["b"]), float(state["alpha"]))


def linucb_probabilities(model: LinUCB, x: Sequence[float], min_share: float) -> list[float]:
    """The greedy arm gets what the floor leaves; ties split evenly (so the propensity is exact)."""
    k = model.arms
    if len(x) != model.dimensions:
        return [1.0 / k] * k
    scores = model.scores(x)
    top = scores.max()
    best = [i for i in range(k) if math.isclose(scores[i], top, rel_tol=1e-12, abs_tol=1e-12)]
    greedy = [1.0 / len(best) if i in best else 0.0 for i in range(k)]
    return apply_floor(greedy, min_share)
