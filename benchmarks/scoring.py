#!/usr/bin/env python
"""Scoring benchmark: do personas recover the demo's latent archetypes, does the conversion model
beat a recency-frequency baseline, and what does training on 1,000,000 profiles cost?

    .venv/bin/python benchmarks/scoring.py --visitors 1500 --profiles 1000000

a. quality: a fresh database (SQLite in a temporary file unless --database-url names a local
   PostgreSQL one) is seeded by the demo's own simulator (``seed_demo``: visitors generated from
   five latent archetypes, fed through consent, ingestion and folding); ``train_models`` then
   trains personas and scores exactly as beat would. Reported: the adjusted Rand index between
   each visitor's latent archetype and their assigned persona (and between archetypes and a
   k-means fit at the true k = 5, to separate "wrong k" from "wrong features"); the conversion
   model's out-of-time ROC AUC / PR AUC / Brier next to the recency-frequency baseline trained
   on the same split; profiles/s of the database feature extraction.
b. scale (a subprocess, so its peak memory is its own): 1,000,000 synthetic profiles drawn from
   the same five archetypes as daily counter rows, through the real ``compute_features``, then
   ``fit_personas`` (MiniBatchKMeans over k = 2..8, silhouette and Davies-Bouldin on a sample)
   and ``fit_score``; time of each step, peak RSS, and batch scoring throughput (persona +
   score for chunks of 20,000 profiles).

Prints a table to stderr and the results as JSON on the last line (and to ``--json PATH``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit_results, load_average, log  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- a. quality


def quality(visitors: int, seed: int, database_url: str | None) -> dict:
    tmp = None
    if database_url is None:
        tmp = tempfile.mkdtemp(prefix="pz-scoring-")
        database_url = f"sqlite:///{tmp}/scoring.sqlite3"
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms_site.settings")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ.pop("REDIS_URL", None)
    import random

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import connection

    if connection.vendor == "postgresql":
        from personalization.profiles.models import VisitorProfile

        if VisitorProfile.objects.exists():
            raise SystemExit("the --database-url database must be empty (it is seeded afresh)")

    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from cms_site.demo.management.commands.seed_demo import Command
    from personalization.profiles.models import VisitorProfile
    from personalization.scoring.features import discover_spec, scoring_moment
    from personalization.scoring.models import ModelVersion
    from personalization.scoring.services import train_models
    from personalization.scoring.training import _preprocess, load_matrix, persona_spec

    command = Command()
    command.stdout = open(os.devnull, "w")  # noqa: SIM115
    command.created_pages = command.personalized_blocks_added = 0
    started = time.monotonic()
    command.seed_pages()
    command.seed_users()
    stats = command.seed_visitors(random.Random(seed), visitors, seed)
    seeded = time.monotonic() - started
    log(f"seeded {visitors} visitors in {seeded:.1f}s")

    started = time.monotonic()
    versions = {v.name: v for v in train_models()}
    trained = time.monotonic() - started
    for v in versions.values():
        if v.status != ModelVersion.Status.READY:
            raise SystemExit(f"{v} failed: {v.error}")

    assigned = dict(VisitorProfile.objects.exclude(persona="").values_list("visitor_id", "persona"))
    ids = [vid for vid in assigned if vid in stats.latent]
    ari = adjusted_rand_score([stats.latent[v] for v in ids], [assigned[v] for v in ids])

    # Same features, k fixed at the truth: how much of the gap is the choice of k?
    spec = persona_spec(discover_spec(include_device=True))
    as_of = scoring_moment(__import__("django.utils.timezone").utils.timezone.now())
    extract_started = time.monotonic()
    data = load_matrix(spec, [as_of], until=as_of)
    extract = time.monotonic() - extract_started
    x = data["features"][0].astype(float)
    keep = data["active"][0]
    pk_to_vid = dict(VisitorProfile.objects.values_list("pk", "visitor_id"))
    vids = [pk_to_vid[pk] for pk in data["pks"][keep].tolist()]
    space = _preprocess("standard", None, 0).fit_transform(x[keep])
    k5 = KMeans(n_clusters=5, n_init=4, random_state=0).fit_predict(space)
    ari_k5 = adjusted_rand_score([stats.latent[v] for v in vids], k5.tolist())

    personas = versions["personas"].metrics
    conversion = versions["conversion"].metrics
    return {
        "visitors": visitors,
        "seed": seed,
        "database": connection.vendor,
        "seed_seconds": round(seeded, 1),
        "train_all_seconds": round(trained, 2),
        "profiles_clustered": personas["n_profiles"],
        "k_chosen": personas["k"],
        "per_k": personas["per_k"],
        "ari_personas": round(ari, 3),
        "ari_kmeans_true_k5": round(ari_k5, 3),
        "conversion": {
            k: conversion[k] for k in ("roc_auc", "pr_auc", "brier", "n_train", "n_valid")
        },
        "conversion_baseline_rf": conversion["baseline"],
        "churn": {k: versions["churn"].metrics[k] for k in ("roc_auc", "pr_auc", "brier")},
        "churn_baseline_rf": versions["churn"].metrics["baseline"],
        "extract_profiles_per_second": round(len(data["pks"]) / max(extract, 1e-9)),
    }


# --------------------------------------------------------------------------- b. scale

# Latent archetypes for the synthetic million: (weight, events per active day, active-day rate,
# tag shares over 12 tags, mobile share, purchase rate per active day).
ARCHETYPES = [
    (0.2, 4.0, 0.10, [6, 5, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0], 0.1, 0.03),
    (0.2, 3.0, 0.08, [0, 0, 1, 5, 6, 2, 0, 0, 0, 0, 0, 0], 0.45, 0.05),
    (0.25, 4.0, 0.12, [0, 0, 3, 0, 0, 0, 6, 4, 0, 0, 0, 0], 0.18, 0.01),
    (0.25, 1.5, 0.03, [0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 1, 1], 0.6, 0.002),
    (0.1, 4.0, 0.20, [0, 0, 2, 0, 0, 3, 2, 2, 0, 0, 0, 0], 0.25, 0.12),
]


def synthetic_chunk(rng, n: int, index, spec, today: int):
    """Daily counter rows of n profiles from the archetypes, in ``CounterArrays`` form."""
    import numpy as np

    from personalization.scoring.features import CounterArrays

    weights = np.array([a[0] for a in ARCHETYPES])
    latent = rng.choice(len(ARCHETYPES), size=n, p=weights / weights.sum())
    days = 90
    rows_p, rows_d, rows_s, rows_c, rows_v = [], [], [], [], []
    view, purchase = index.type_index["page_view"], index.type_index["purchase"]
    tag_series = [index.dim_index[f"tag:{t}"] for t in spec.tags]
    for a, (_w, per_day, rate, tags, _mobile, buy) in enumerate(ARCHETYPES):
        members = np.flatnonzero(latent == a)
        active = rng.random((len(members), days)) < rate
        p_idx, d_idx = np.nonzero(active)
        profile = members[p_idx]
        day = today - 1 - d_idx
        views = rng.poisson(per_day, size=len(profile)) + 1
        rows_p.append(profile)
        rows_d.append(day)
        rows_s.append(np.full(len(profile), view))
        rows_c.append(views.astype(float))
        rows_v.append(np.zeros(len(profile)))
        share = np.array(tags, dtype=float) + 0.5
        share /= share.sum()
        for j, series in enumerate(tag_series):
            hits = rng.binomial(views, share[j])
            keep = hits > 0
            rows_p.append(profile[keep])
            rows_d.append(day[keep])
            rows_s.append(np.full(int(keep.sum()), series))
            rows_c.append(hits[keep].astype(float))
            rows_v.append(np.zeros(int(keep.sum())))
        bought = rng.random(len(profile)) < buy
        rows_p.append(profile[bought])
        rows_d.append(day[bought])
        rows_s.append(np.full(int(bought.sum()), purchase))
        rows_c.append(np.ones(int(bought.sum())))
        rows_v.append(rng.gamma(2.0, 150.0, size=int(bought.sum())))
    arrays = CounterArrays(
        np.concatenate(rows_p).astype(np.int64),
        np.concatenate(rows_d).astype(np.int64),
        np.concatenate(rows_s).astype(np.int64),
        np.concatenate(rows_c),
        np.concatenate(rows_v),
    )
    mobile = np.array([ARCHETYPES[a][4] for a in latent])
    devices = np.where(rng.random(n) < mobile, "mobile", "desktop").tolist()
    return latent, arrays, devices


def scale(profiles: int, chunk: int = 20_000) -> dict:
    """Runs in its own process (``--scale-only``): no Django database, only the plain functions."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms_site.settings")
    import django

    django.setup()
    from datetime import UTC, datetime, timedelta

    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    from personalization.profiles.buckets import day_index
    from personalization.scoring.features import (
        FeatureSpec,
        SeriesIndex,
        compute_features,
        goal_labels,
    )
    from personalization.scoring.training import fit_personas, fit_score

    rng = np.random.default_rng(0)
    tags = tuple(f"t{i}" for i in range(12))
    spec = FeatureSpec(("page_view", "purchase"), tags, (), include_device=True)
    index = SeriesIndex(spec)
    today = datetime(2026, 6, 1, tzinfo=UTC)
    cut = today - timedelta(days=14)
    started = time.monotonic()
    xs, xs_cut, ys, latents = [], [], [], []
    for first in range(0, profiles, chunk):
        n = min(chunk, profiles - first)
        latent, arrays, devices = synthetic_chunk(rng, n, index, spec, day_index(today))
        xs.append(compute_features(spec, index, n, arrays, today, devices).astype(np.float32))
        xs_cut.append(compute_features(spec, index, n, arrays, cut, devices).astype(np.float32))
        ys.append(goal_labels(index, n, arrays, cut, 14, "purchase"))
        latents.append(latent)
    x = np.vstack(xs)
    x_cut = np.vstack(xs_cut)
    y = np.concatenate(ys)
    latent = np.concatenate(latents)
    del xs, xs_cut, ys
    features_s = time.monotonic() - started
    names = spec.names()
    active = ~np.isnan(x[:, names.index("days_since_active")])

    started = time.monotonic()
    fit = fit_personas(x[active].astype(np.float64), names, k_range=(2, 8), sample_size=5000)
    personas_s = time.monotonic() - started
    ari = adjusted_rand_score(latent[active], fit.labels)

    # Point-in-time split on the synthetic data: first half of profiles trains, second validates
    # (both as of the same cut-off; the database run uses two cut-offs).
    keep = ~np.isnan(x_cut[:, names.index("days_since_active")])
    xa, ya = x_cut[keep].astype(np.float64), y[keep]
    half = len(ya) // 2
    started = time.monotonic()
    score = fit_score(
        xa[:half],
        ya[:half],
        xa[half:],
        ya[half:],
        names,
        baseline_columns=(names.index("days_since_active"), names.index("log_events_90d")),
    )
    score_s = time.monotonic() - started

    started = time.monotonic()
    scored = 0
    for first in range(0, len(x), chunk):
        rows = x[first : first + chunk].astype(np.float64)
        fit.assign(rows)
        score.model.predict_proba(rows)
        scored += len(rows)
    batch_s = time.monotonic() - started
    return {
        "profiles": profiles,
        "active_profiles": int(active.sum()),
        "features": len(names),
        "feature_seconds": round(features_s, 1),
        "personas_fit_seconds": round(personas_s, 1),
        "personas_k": fit.k,
        "personas_per_k": fit.per_k,
        "ari_personas": round(float(ari), 3),
        "score_fit_seconds": round(score_s, 1),
        "score_roc_auc": score.metrics["roc_auc"],
        "score_baseline_roc_auc": score.metrics["baseline"]["roc_auc"],
        "batch_scoring_profiles_per_second": round(scored / batch_s),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--scale-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.scale_only:
        print(json.dumps(scale(args.profiles)))
        return
    if (
        args.database_url
        and "127.0.0.1" not in args.database_url
        and "localhost" not in (args.database_url)
    ):
        parser.error("only a local database")
    results: dict = {"load_average_before": load_average()}
    if not args.skip_scale:
        log(f"scale: {args.profiles} synthetic profiles (subprocess)")
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, __file__, "--scale-only", "--profiles", str(args.profiles)],
            capture_output=True,
            text=True,
            timeout=3600,
            cwd=ROOT,
            check=False,
        )
        if done.returncode != 0:
            log(done.stderr[-3000:])
            raise SystemExit("scale run failed")
        results["scale"] = json.loads(done.stdout.strip().splitlines()[-1])
        results["scale"]["wall_seconds"] = round(time.monotonic() - started, 1)
    if not args.skip_quality:
        log(f"quality: {args.visitors} demo visitors from latent archetypes")
        results["quality"] = quality(args.visitors, args.seed, args.database_url)
    results["load_average_after"] = load_average()
    for part in ("quality", "scale"):
        if part in results:
            log(f"-- {part}")
            for key, value in results[part].items():
                log(f"  {key:<36} {value}")
    emit_results(results, args.json)


if __name__ == "__main__":
    main()
