"""Offline benchmark of the recommenders on MovieLens 100K, with the protocol of issue 11.

    .venv/bin/python benchmarks/recommendations_movielens.py [--data ../shared/data/ml-100k/u.data]

Every rating is one interaction (weight 1). Per visitor, the latest 20% by timestamp is the test
set. Hyper-parameters are chosen on a validation split of the *training* data only (the latest
20% of each visitor's training interactions); the chosen configuration is then refitted on the
whole training set and scored once on the test set. All items are scored and the visitor's
training items removed; P@10, R@10, NDCG@10 (binary, log2, ideal over min(10, |test|)),
MAP@10, coverage, fit time and the time to produce top-10 for every visitor are printed, with
popularity as the floor, in one table. The data file is read where it is, never copied.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from personalization.recommendations.algorithms import build  # noqa: E402
from personalization.recommendations.evaluation import (  # noqa: E402
    fit_and_evaluate,
    time_split,
)

DEFAULT_DATA = ROOT.parent.parent / "shared" / "data" / "ml-100k" / "u.data"

# name -> grid of parameters tried on the validation split
GRIDS: dict[str, list[dict]] = {
    "popularity": [{}],
    "item_knn": [{"k": k} for k in (20, 50, 100, 200)],
    "svd": [{"factors": f} for f in (10, 20, 30, 50)],
    "ease": [{"l2": lam} for lam in (100.0, 200.0, 300.0, 500.0, 800.0)],
}


def load(path: Path):
    raw = np.loadtxt(path, dtype=np.int64)
    user_ids, users = np.unique(raw[:, 0], return_inverse=True)
    item_ids, items = np.unique(raw[:, 1], return_inverse=True)
    return users, items, raw[:, 3], (len(user_ids), len(item_ids))


def choose(name, grid, users, items, weights, ts, shape, train_mask, log):
    """The grid point with the best validation NDCG@10, using training interactions only."""
    if len(grid) == 1:
        return grid[0], None
    validation = time_split(
        users[train_mask], items[train_mask], weights[train_mask], ts[train_mask], shape
    )
    best, best_ndcg = grid[0], -1.0
    for params in grid:
        ndcg = fit_and_evaluate(build(name, params), validation).ndcg
        log(f"    validation {name} {params}: ndcg@10={ndcg:.4f}")
        if ndcg > best_ndcg:
            best, best_ndcg = params, ndcg
    return best, best_ndcg


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quiet", action="store_true", help="only the table")
    args = parser.parse_args(argv)

    def log(message):
        if not args.quiet:
            print(message, flush=True)

    if not args.data.exists():
        print(f"MovieLens 100K not found at {args.data} (pass --data PATH/u.data)")
        return 2
    users, items, ts, shape = load(args.data)
    weights = np.ones(len(users), dtype=np.float32)
    split = time_split(users, items, weights, ts, shape)
    # Which interactions are training ones (the test split marked them out of ``train``).
    train_mask = np.asarray(split.train[users, items]).ravel() > 0
    log(
        f"{shape[0]} visitors x {shape[1]} items, {len(users)} interactions; "
        f"{int(train_mask.sum())} train, {len(users) - int(train_mask.sum())} test"
    )

    rows = []
    for name, grid in GRIDS.items():
        params, val_ndcg = choose(name, grid, users, items, weights, ts, shape, train_mask, log)
        started = time.perf_counter()
        metrics = fit_and_evaluate(build(name, params), split)
        log(
            f"  {name} {params}: test ndcg@10={metrics.ndcg:.4f} "
            f"({time.perf_counter() - started:.1f}s)"
        )
        rows.append((name, params, val_ndcg, metrics))

    header = (
        f"{'model':<11} {'params':<16} {'val NDCG':>8} {'P@10':>7} {'R@10':>7} "
        f"{'NDCG@10':>8} {'MAP@10':>7} {'HR@10':>6} {'cover':>6} {'fit s':>6} {'top10 s':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, params, val_ndcg, m in rows:
        shown = ",".join(f"{k}={v:g}" for k, v in params.items()) or "-"
        val = f"{val_ndcg:.4f}" if val_ndcg is not None else "-"
        print(
            f"{name:<11} {shown:<16} {val:>8} {m.precision:7.4f} {m.recall:7.4f} "
            f"{m.ndcg:8.4f} {m.map:7.4f} {m.hit_rate:6.3f} {m.coverage:6.3f} "
            f"{m.fit_seconds:6.2f} {m.predict_seconds:7.2f}"
        )
    floor = rows[0][3].ndcg
    best = max(rows, key=lambda r: r[3].ndcg)
    print(
        f"popularity floor NDCG@10 = {floor:.4f}; best: {best[0]} NDCG@10 = {best[3].ndcg:.4f} "
        f"({best[3].ndcg / floor:.2f}x the floor)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
