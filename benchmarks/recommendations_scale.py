#!/usr/bin/env python
"""Scale benchmark of the recommenders on synthetic data: fit time, peak memory, top-N latency.

    .venv/bin/python benchmarks/recommendations_scale.py [--visitors 100000 --items 10000
        --interactions 2000000] [--models popularity,item_knn,svd,ease,content]

Synthetic interactions (seed 0): visitors belong to one of 100 taste clusters; 70% of their
interactions come from their cluster's items, 30% from the whole catalogue, both Zipf-skewed, so
there is signal to learn and a long tail. Each model is fitted in its own child process, so the
peak resident memory reported (``ru_maxrss`` of the child) is that model's alone; the data build
is counted in it (it is part of a training run). Fit time is wall clock and CPU time (all
threads): on a machine shared with other jobs the CPU time is the steadier figure. Top-N
latency: 1,000 single-visitor calls (score a visitor's row, remove seen items, top 10), p50
and p99. Goal (issue 11): every model fits in under 60 s and 4 GiB on this machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from personalization.recommendations.algorithms import build, top_n  # noqa: E402

# label -> (recommender, parameters)
PARAMS = {
    "popularity": ("popularity", {}),
    "item_knn": ("item_knn", {"k": 100}),
    "svd": ("svd", {"factors": 64, "solver": "randomized"}),
    "ease": ("ease", {"l2": 300.0}),
    "ease-top3000": ("ease", {"l2": 300.0, "max_items": 3000}),
    "content": ("content", {"k": 50}),
}


def synthetic(visitors: int, items: int, interactions: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    clusters = 100
    users = rng.integers(0, visitors, interactions)
    user_cluster = rng.integers(0, clusters, visitors)
    per_cluster = items // clusters
    local = rng.random(interactions) < 0.7
    zipf_local = np.minimum(rng.zipf(1.3, interactions) - 1, per_cluster - 1)
    zipf_global = np.minimum(rng.zipf(1.2, interactions) - 1, items - 1)
    permutation = rng.permutation(items)
    item = np.where(
        local,
        user_cluster[users] * per_cluster + zipf_local,
        permutation[zipf_global],
    )
    X = sparse.csr_matrix(
        (np.ones(interactions, dtype=np.float32), (users, item)), shape=(visitors, items)
    )
    X.data[:] = 1.0  # duplicates summed by the constructor: binarise
    words = [f"w{n}" for n in range(2000)]
    texts = [
        " ".join(
            [f"topic{i // per_cluster}"] * 3 + [words[(i * 7 + k * 13) % 2000] for k in range(20)]
        )
        for i in range(items)
    ]
    return X, texts


def run_one(name: str, args, queue) -> None:
    started = time.perf_counter()
    X, texts = synthetic(args.visitors, args.items, args.interactions)
    build_seconds = time.perf_counter() - started
    recommender, params = PARAMS[name]
    model = build(recommender, params)
    started, cpu_started = time.perf_counter(), time.process_time()
    model.fit(X, texts=texts)
    fit_seconds = time.perf_counter() - started
    fit_cpu = time.process_time() - cpu_started  # all threads: fairer on a shared machine
    rng = np.random.default_rng(1)
    latencies = []
    for u in rng.integers(0, X.shape[0], args.calls):
        row = X[u]
        t = time.perf_counter()
        scores = model.score(row)[0]
        top_n(scores, 10, exclude=row.indices)
        latencies.append((time.perf_counter() - t) * 1000)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        {
            "model": name,
            "params": params,
            "data_build_s": round(build_seconds, 2),
            "fit_s": round(fit_seconds, 2),
            "fit_cpu_s": round(fit_cpu, 2),
            "peak_mib": round(peak_mib),
            "top10_p50_ms": round(float(np.percentile(latencies, 50)), 3),
            "top10_p99_ms": round(float(np.percentile(latencies, 99)), 3),
            "nnz": int(X.nnz),
        }
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--interactions", type=int, default=2_000_000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument(
        "--models",
        default="popularity,item_knn,svd,ease,content",
        help=f"comma-separated, of: {', '.join(PARAMS)}",
    )
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = set(names) - set(PARAMS)
    if unknown:
        parser.error(f"unknown models: {', '.join(sorted(unknown))}")
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(
        f"{args.visitors} visitors x {args.items} items x {args.interactions} interactions "
        f"(load average {load}, {os.cpu_count()} CPUs)",
        flush=True,
    )
    context = mp.get_context("spawn")
    rows = []
    for name in names:
        queue = context.Queue()
        child = context.Process(target=run_one, args=(name, args, queue))
        child.start()
        result = queue.get()
        child.join()
        rows.append(result)
        print(
            f"  {name:<11} fit {result['fit_s']:7.2f} s (CPU {result.get('fit_cpu_s', 0):.2f} s)"
            f"  peak {result['peak_mib']:6d} MiB  "
            f"top-10 p50 {result['top10_p50_ms']:7.3f} ms  p99 {result['top10_p99_ms']:7.3f} ms",
            flush=True,
        )
    header = f"{'model':<11} {'fit s':>7} {'CPU s':>7} {'peak MiB':>9} {'p50 ms':>8} {'p99 ms':>8}"
    print(f"{header}  goal <60 s, <4096 MiB")
    for r in rows:
        ok = r["fit_s"] < 60 and r["peak_mib"] < 4096
        print(
            f"{r['model']:<11} {r['fit_s']:7.2f} {r.get('fit_cpu_s', 0):7.2f} {r['peak_mib']:9d} "
            f"{r['top10_p50_ms']:8.3f} "
            f"{r['top10_p99_ms']:8.3f}  {'ok' if ok else 'OVER'}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
