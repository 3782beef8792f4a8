"""Off-policy evaluation: what another policy would have earned, from logged decisions.

Every exposure logs the arm, the probability the serving policy gave it (propensity) and, for
contextual policies, the features. With ``pi(a | x)`` the target policy's probability of the
logged arm, ``w = pi / propensity``:

* IPS   = mean(w * r)                                   (unbiased, high variance)
* SNIPS = mean(w * r) / mean(w)                         (self-normalised: bounded, small bias)
* DR    = mean(sum_a pi(a|x) q(x, a) + w * (r - q(x, a_logged)))   (doubly robust)

Intervals are normal approximations over the per-decision terms (for SNIPS, the delta method).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True)
class LoggedDecision:
    """One logged decision in the product's log format (what an ``Exposure`` row holds, with
    its reward: did the visitor reach the primary goal)."""

    arm: int
    propensity: float
    reward: float
    features: tuple[float, ...] = ()
    policy_version: int = 0


@dataclass(frozen=True)
class Estimate:
    value: float
    ci: tuple[float, float]
    n: int


def _estimate(terms: np.ndarray) -> Estimate:
    n = len(terms)
    mean = float(terms.mean()) if n else 0.0
    se = float(terms.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return Estimate(mean, (mean - Z95 * se, mean + Z95 * se), n)


def _arrays(log: Sequence[LoggedDecision]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arms = np.fromiter((d.arm for d in log), dtype=int, count=len(log))
    propensity = np.fromiter((d.propensity for d in log), dtype=float, count=len(log))
    reward = np.fromiter((d.reward for d in log), dtype=float, count=len(log))
    return arms, propensity, reward


def _target_of_logged(action_dist: np.ndarray, arms: np.ndarray) -> np.ndarray:
    return action_dist[np.arange(len(arms)), arms]


def on_policy(log: Sequence[LoggedDecision]) -> Estimate:
    """The logging policy's own value: the mean reward, with its interval."""
    return _estimate(_arrays(log)[2])


def ips(log: Sequence[LoggedDecision], action_dist: np.ndarray) -> Estimate:
    """``action_dist[i, a]``: the target policy's probability of arm ``a`` for decision ``i``."""
    arms, propensity, reward = _arrays(log)
    weights = _target_of_logged(action_dist, arms) / propensity
    return _estimate(weights * reward)


def snips(log: Sequence[LoggedDecision], action_dist: np.ndarray) -> Estimate:
    arms, propensity, reward = _arrays(log)
    weights = _target_of_logged(action_dist, arms) / propensity
    mean_w = weights.mean()
    value = float((weights * reward).mean() / mean_w)
    # delta method: influence terms w (r - value) / mean(w)
    influence = weights * (reward - value) / mean_w
    se = float(influence.std(ddof=1) / math.sqrt(len(log))) if len(log) > 1 else 0.0
    return Estimate(value, (value - Z95 * se, value + Z95 * se), len(log))


def dr(log: Sequence[LoggedDecision], action_dist: np.ndarray, q_hat: np.ndarray) -> Estimate:
    """``q_hat[i, a]``: a reward model's prediction for arm ``a`` in decision ``i``'s context."""
    arms, propensity, reward = _arrays(log)
    index = np.arange(len(arms))
    weights = action_dist[index, arms] / propensity
    direct = (action_dist * q_hat).sum(axis=1)
    return _estimate(direct + weights * (reward - q_hat[index, arms]))
