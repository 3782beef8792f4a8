#!/usr/bin/env python
"""Cumulative regret of the product's bandit policies in a known environment.

    .venv/bin/python benchmarks/bandits_regret.py [--rounds 100000] [--batch 1000] [--seed 1]

A contextual environment with 5 arms and 6 binary context features (bias + 5): each visitor's
click probability for arm ``a`` is ``sigmoid(theta_a . x)`` with fixed random ``theta`` (seeded),
so the best arm depends on the visitor; base rates are a few percent, like site conversions.
Policies, run as the product runs them (serving reads weights or a model that a beat task
recomputes every ``--batch`` rounds from the logged exposures and rewards):

* uniform random (the baseline);
* epsilon-greedy (epsilon 0.1, warm-up 100 per arm, min share 1%) via ``epsilon_greedy_weights``;
* Thompson sampling via ``thompson_weights`` (min share 1%, warm-up 100);
* LinUCB (alpha 0.5, min share 1%) via ``LinUCB.update`` / ``linucb_probabilities``.

Regret per round is ``max_a p(a|x) - p(chosen|x)``, summed (expected regret, so the reward noise
does not blur the comparison). Prints the regret at checkpoints and, last, JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from personalization.experiments.policies import (  # noqa: E402
    LinUCB,
    epsilon_greedy_weights,
    linucb_probabilities,
    thompson_weights,
)

ARMS, FEATURES = 5, 6


def environment(seed: int):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 0.8, size=(ARMS, FEATURES))
    theta[:, 0] = rng.uniform(-3.6, -2.8, size=ARMS)  # base rates around 3-6%
    return theta


def contexts(rng, rounds: int) -> np.ndarray:
    x = (rng.random((rounds, FEATURES)) < 0.4).astype(float)
    x[:, 0] = 1.0
    return x


def run(policy: str, theta, x, batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    probs = 1 / (1 + np.exp(-(x @ theta.T)))  # (rounds, arms)
    best = probs.max(axis=1)
    rounds = len(x)
    regret = np.zeros(rounds)
    successes, trials = np.zeros(ARMS), np.zeros(ARMS)
    weights = np.full(ARMS, 1.0 / ARMS)
    model = LinUCB.create(ARMS, FEATURES, alpha=0.5)
    pending: list[tuple[int, np.ndarray, float]] = []
    for start in range(0, rounds, batch):
        stop = min(start + batch, rounds)
        for t in range(start, stop):
            p = linucb_probabilities(model, x[t], 0.01) if policy == "linucb" else weights
            arm = int(rng.choice(ARMS, p=np.asarray(p) / np.sum(p)))
            reward = float(rng.random() < probs[t, arm])
            regret[t] = best[t] - probs[t, arm]
            successes[arm] += reward
            trials[arm] += 1
            pending.append((arm, x[t], reward))
        # the beat task: recompute from what was logged since the last run
        if policy == "epsilon_greedy":
            weights = np.array(
                epsilon_greedy_weights(successes, trials, epsilon=0.1, min_share=0.01, warmup=100)
            )
        elif policy == "thompson":
            weights = np.array(
                thompson_weights(successes, trials, min_share=0.01, warmup=100, seed=start)
            )
        elif policy == "linucb":
            for arm, features, reward in pending:
                model.update(arm, features, reward)
        pending.clear()
    return np.cumsum(regret)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    theta = environment(args.seed)
    x = contexts(np.random.default_rng(args.seed + 100), args.rounds)
    checkpoints = [c for c in (1000, 10_000, 50_000, args.rounds) if c <= args.rounds]
    results = {"rounds": args.rounds, "batch": args.batch, "seed": args.seed, "policies": {}}
    probs = 1 / (1 + np.exp(-(x @ theta.T)))
    results["best_arm_shares"] = np.bincount(probs.argmax(1), minlength=ARMS).tolist()
    results["mean_best_rate"] = float(probs.max(1).mean())
    for policy in ("uniform", "epsilon_greedy", "thompson", "linucb"):
        started = time.perf_counter()
        cumulative = run(policy, theta, x, args.batch, args.seed)
        results["policies"][policy] = {
            "regret": {str(c): round(float(cumulative[c - 1]), 1) for c in checkpoints},
            "seconds": round(time.perf_counter() - started, 1),
        }
    print(f"\n=== cumulative expected regret, {args.rounds} rounds, updates every {args.batch} ===")
    print(
        f"  best arm per context shares: {results['best_arm_shares']}, "
        f"mean best rate {results['mean_best_rate']:.4f}"
    )
    print(f"  {'policy':<16}" + "".join(f"{c:>10}" for c in checkpoints) + f"{'seconds':>9}")
    for policy, row in results["policies"].items():
        print(
            f"  {policy:<16}"
            + "".join(f"{row['regret'][str(c)]:>10}" for c in checkpoints)
            + f"{row['seconds']:>9}"
        )
    uniform = results["policies"]["uniform"]["regret"][str(args.rounds)]
    results["ratio_to_uniform"] = {
        p: round(r["regret"][str(args.rounds)] / uniform, 3) for p, r in results["policies"].items()
    }
    print(f"  final regret / uniform: {results['ratio_to_uniform']}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
