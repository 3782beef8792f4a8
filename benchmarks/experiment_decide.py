#!/usr/bin/env python
"""decide with one running experiment against decide without it, in the same run.

    .venv/bin/python benchmarks/experiment_decide.py [--visitors 200] [--calls 400] [--rounds 5]

The goal: a running experiment costs decide at most 10% (ratio >= 0.9).

In this process (``DJANGO_SETTINGS_MODULE=benchmarks.settings``; ``DATABASE_URL`` default
``postgres://postgres@127.0.0.1:5432/bench_experiments``, ``REDIS_URL`` default
``redis://127.0.0.1:6379/4`` with cache prefix ``bench_experiments``; only local services): migrate,
empty the ``personalization_*`` tables, 50 segments and 5 snippets as in ``decide.py``, then
``--visitors`` consenting visitors (``POST consent``) and an experiment on ``placement-1`` (three
arms: the default and two variants; purchase as the goal). Each round times ``--calls`` decide
calls (5 placements, the same bodies as ``decide.py``) through Django's test client and the full
middleware stack, first with the experiment paused (so nobody is assigned), then running (every
visitor assigned, an exposure buffered per call); phases alternate, each after a warm-up call,
so both see the same cache and the same machine load. Reports the median microseconds per call
per phase and the ratio of throughputs (without / with), per round and overall.

Prints a table and, last, the results as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import ensure_database, load_average, local_services, log  # noqa: E402
from ingest import truncate_personalization  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    database_url, redis_url = local_services(parser, "bench_experiments", 4)
    ensure_database(database_url)
    truncate_personalization(database_url) if _has_tables(database_url) else None
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DJANGO_SETTINGS_MODULE="benchmarks.settings",
        CACHE_KEY_PREFIX="bench_experiments",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client

    log("migrating ...")
    call_command("migrate", interactive=False, verbosity=0)
    truncate_personalization(database_url)
    cache.clear()
    from decide import PLACEMENTS, create_segments, create_snippets, decide_body
    from ingest import USER_AGENT

    from personalization.experiments.models import Arm, Experiment, Goal
    from personalization.experiments.services import flush_exposures, transition
    from personalization.variants.models import PersonalizedContent
    from personalization.variants.services import flush_impressions

    segments = create_segments()
    create_snippets(segments)
    snippet = PersonalizedContent.objects.get(slug=PLACEMENTS[0])
    variant_ids = [str(child.id) for child in snippet.variants][:2]
    experiment = Experiment.objects.create(
        name="Bench", slug="bench", placements=[PLACEMENTS[0]], baseline_rate=0.05
    )
    for n, variant in enumerate(["", *variant_ids]):
        Arm.objects.create(
            experiment=experiment,
            key=f"arm{n}",
            variants={PLACEMENTS[0]: variant},
            is_control=n == 0,
            sort_order=n,
        )
    Goal.objects.create(experiment=experiment, name="Purchase", event_type="purchase", primary=True)
    transition(experiment, "start")

    client = Client()
    tokens = []
    for _ in range(args.visitors):
        response = client.post(
            "/api/personalization/v1/consent",
            {"purposes": {"analytics": True, "personalization": True}},
            content_type="application/json",
            headers={"User-Agent": USER_AGENT},
        )
        tokens.append(response.json()["visitor_token"])
    client = Client()  # no cookies: visitors are named by header

    def call(v: int) -> tuple[float, float, dict]:
        started, cpu = time.perf_counter(), time.process_time()
        response = client.post(
            "/api/personalization/v1/decide",
            data=decide_body(v),
            content_type="application/json",
            headers={"User-Agent": USER_AGENT, "X-Visitor-Id": tokens[v % len(tokens)]},
        )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert response.status_code == 200, response.content[:300]
        return elapsed, cpu, response.json()

    def phase(running: bool) -> dict:
        current = Experiment.objects.get(pk=experiment.pk)
        if running and current.status != "running":
            transition(current, "resume")
        if not running and current.status == "running":
            transition(current, "pause")
        call(0)  # recompile definitions for the new content version
        times, cpus, assigned = [], [], 0
        for v in range(args.calls):
            elapsed, cpu, body = call(v)
            times.append(elapsed)
            cpus.append(cpu)
            assigned += body["placements"][PLACEMENTS[0]]["experiment"] is not None
        flush_impressions()
        flush_exposures()
        return {
            "median_us": round(statistics.median(times) * 1e6, 1),
            "mean_us": round(statistics.fmean(times) * 1e6, 1),
            "cpu_mean_us": round(statistics.fmean(cpus) * 1e6, 1),
            "assigned": assigned,
        }

    rounds = []
    for n in range(args.rounds):
        without = phase(False)
        with_exp = phase(True)
        ratio = round(without["median_us"] / with_exp["median_us"], 3)
        cpu_ratio = round(without["cpu_mean_us"] / with_exp["cpu_mean_us"], 3)
        rounds.append(
            {"without": without, "with": with_exp, "ratio": ratio, "cpu_ratio": cpu_ratio}
        )
        log(
            f"round {n + 1}: without {without['median_us']} us, with {with_exp['median_us']} us,"
            f" throughput ratio {ratio}"
        )
    from personalization.experiments.models import Exposure

    exposures = Exposure.objects.filter(experiment=experiment).count()
    median_without = statistics.median(r["without"]["median_us"] for r in rounds)
    median_with = statistics.median(r["with"]["median_us"] for r in rounds)
    cpu_without = statistics.median(r["without"]["cpu_mean_us"] for r in rounds)
    cpu_with = statistics.median(r["with"]["cpu_mean_us"] for r in rounds)
    results = {
        "visitors": args.visitors,
        "calls_per_phase": args.calls,
        "rounds": rounds,
        "median_us_without": median_without,
        "median_us_with": median_with,
        "ratio_with_over_without_throughput": round(median_without / median_with, 3),
        "cpu_us_per_call_without": cpu_without,
        "cpu_us_per_call_with": cpu_with,
        "cpu_ratio_without_over_with": round(cpu_without / cpu_with, 3),
        "goal_0_9_met": median_without / median_with >= 0.9,
        "exposures_written": exposures,
        "load_average": load_average(),
    }
    print("\n=== decide with one running experiment vs without (in process, full middleware) ===")
    for n, r in enumerate(rounds, 1):
        print(
            f"  round {n}: without {r['without']['median_us']:>8} us   with "
            f"{r['with']['median_us']:>8} us   ratio {r['ratio']}  "
            f"(assigned {r['with']['assigned']}/{args.calls})"
        )
    print(
        f"  median per call: without {median_without} us, with {median_with} us; "
        f"throughput ratio {results['ratio_with_over_without_throughput']} (goal >= 0.9)"
    )
    print(
        f"  CPU per call (this process): without {cpu_without} us, with {cpu_with} us; "
        f"ratio {results['cpu_ratio_without_over_with']}"
    )
    print(f"  exposures written: {exposures}; load average {results['load_average']}")
    print(json.dumps(results))
    return 0


def _has_tables(database_url: str) -> bool:
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        return bool(
            conn.execute(
                "select 1 from pg_tables where tablename = 'personalization_event'"
            ).fetchone()
        )


if __name__ == "__main__":
    sys.exit(main())
