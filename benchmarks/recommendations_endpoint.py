#!/usr/bin/env python
"""Recommendations endpoint benchmark: requests/s of ``GET recommendations`` against a constant
DRF answer of the same size (``GET /bench/constant-recommendations``), in the same run.

    .venv/bin/python benchmarks/recommendations_endpoint.py --duration 10 --rounds 2

Goal (issue 11): at least 0.7x the constant endpoint's throughput.

One run (``DJANGO_SETTINGS_MODULE=benchmarks.settings``; ``DATABASE_URL`` default
``postgres://postgres@127.0.0.1:5432/bench_recs``, ``REDIS_URL`` default
``redis://127.0.0.1:6379/3``):

1. create/migrate the database, empty every ``personalization_*`` table and flush the Redis db;
   in this process: the demo pages (``seed_demo --visitors 0``), ``--visitors`` visitors with
   consent and 5-30 page views each (two taste clusters, seeded), then ``train()`` (the default
   hybrid recommender), which stores and caches a top-N list per visitor;
2. start gunicorn (``ingest.Services``); one GET per visitor checks every answer (6 items,
   ``source: precomputed``) and warms the snapshot and catalogue caches;
3. ``--rounds`` x (constant, floor, recommendations) for ``--duration`` seconds each with
   ``wrk`` (a Lua script cycles over the visitors' tokens in ``X-Visitor-Id``); every
   recommendations call writes an impression row (the visitors consented), as in production.
   The floor (``bench/floor-recommendations``) verifies the token and reads the visitor's
   snapshot and list in one round trip, then answers the constant: what the goal is up against.

Prints a table and the results as one JSON line (last line of stdout).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta

from common import (
    emit_results,
    ensure_database,
    load_average,
    local_services,
    log,
    run_wrk,
    service_env,
)
from decide import setup_django
from ingest import HOST, USER_AGENT, Client, CpuMeter, Services, free_port, truncate_personalization

PATH = "/api/personalization/v1/recommendations?limit=6&placement=bench"
BASELINE = "/bench/constant-recommendations"
FLOOR = "/bench/floor-recommendations"

LUA = """
local tokens = {{ {tokens} }}
local requests = {{}}
local counter = 0
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function init(args)
  for i = 1, #tokens do
    requests[i] = wrk.format("GET", [==[{path}]==], {{
      ["User-Agent"] = [==[{user_agent}]==], ["X-Visitor-Id"] = tokens[i] }})
  end
  counter = (tid or 0) * 7919
end
function request() counter = counter + 1; return requests[(counter % #requests) + 1] end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('PZJSON {{"requests":%d,"duration_us":%d,"status":%d,"other":%d,' ..
    '"p50_us":%d,"p99_us":%d}}\\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def seed(visitors: int, seed_value: int) -> list[str]:
    """Pages, visitors with consent and page views, a trained model; returns their tokens."""
    from django.core.management import call_command

    from cms_site.demo.models import ArticlePage, ProductPage
    from personalization.consent.services import record_consent
    from personalization.events.models import Event
    from personalization.profiles.identity import sign_visitor_id
    from personalization.recommendations.training import train

    with open(os.devnull, "w") as quiet:
        call_command("seed_demo", "--visitors", "0", verbosity=0, stdout=quiet)
    pages = list(ArticlePage.objects.live().values_list("pk", flat=True)) + list(
        ProductPage.objects.live().values_list("pk", flat=True)
    )
    half = len(pages) // 2
    clusters = [pages[:half], pages[half:]]
    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    tokens, events = [], []
    for v in range(visitors):
        vid = uuid.UUID(int=rng.getrandbits(128), version=4)
        record_consent(vid, {"analytics": True, "personalization": True}, source="bench")
        cluster = clusters[v % 2]
        for n in range(rng.randint(5, 30)):
            page = rng.choice(cluster) if rng.random() < 0.8 else rng.choice(pages)
            at = now - timedelta(hours=rng.uniform(1, 24 * 20))
            events.append(
                Event(
                    visitor_id=vid,
                    key=f"bench-{v}-{n}",
                    type="page_view",
                    properties={"page_id": page},
                    timestamp=at,
                    received_at=at,
                )
            )
        tokens.append(sign_visitor_id(vid))
    Event.objects.bulk_create(events, batch_size=2000)
    started = time.perf_counter()
    version = train()
    log(
        f"trained v{version.pk} {version.algorithm} on {version.n_interactions} interactions "
        f"in {time.perf_counter() - started:.1f}s"
    )
    return tokens


def check(port: int, tokens: list[str]) -> dict:
    client = Client(port)
    sources: dict[str, int] = {}
    bad = 0
    for token in tokens:
        status, data = client.request("GET", PATH, None, {"X-Visitor-Id": token})
        body = json.loads(data) if status == 200 else {}
        if status != 200 or len(body.get("items", [])) != 6:
            bad += 1
        sources[body.get("source", str(status))] = (
            sources.get(body.get("source", str(status)), 0) + 1
        )
    client.request("GET", BASELINE)
    client.close()
    return {"answers": len(tokens), "bad": bad, "sources": sources}


def wrk(port: int, path: str, tokens: list[str], args) -> dict:
    script = LUA.format(
        path=path,
        tokens=", ".join(f"[==[{t}]==]" for t in tokens),
        user_agent=USER_AGENT,
    )
    raw = run_wrk(
        script,
        f"http://{HOST}:{port}{path}",
        concurrency=args.concurrency,
        duration=args.duration,
    )
    seconds = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "errors": raw["status"] + raw["other"],
        "requests_per_s": round(raw["requests"] / seconds, 1),
        "latency_ms_p50": round(raw["p50_us"] / 1000, 2),
        "latency_ms_p99": round(raw["p99_us"] / 1000, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--visitors", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--celery-concurrency", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk)")
    database_url, redis_url = local_services(parser, "bench_recs", 3)
    env = service_env(database_url, redis_url)
    ensure_database(database_url)
    setup_django(env)
    truncate_personalization(database_url)
    import redis

    redis.Redis.from_url(redis_url, socket_timeout=5).flushdb()
    tokens = seed(args.visitors, args.seed)
    services = Services(env, args, free_port())
    results: dict = {
        "config": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "duration s x rounds": f"{args.duration} x {args.rounds}",
            "connections": args.concurrency,
            "visitors": args.visitors,
            "gunicorn": f"{args.workers} workers x {args.threads} threads ({args.worker_class})",
            "cpus": os.cpu_count(),
            "load average before": load_average(),
        },
        "rounds": [],
    }
    try:
        services.start()
        services.wait_ready(redis_url)
        port = services.port
        results["check"] = check(port, tokens)
        log(f"answers: {results['check']}")
        for n in range(args.rounds):
            row = {}
            for name, path in (
                ("constant", BASELINE),
                ("floor", FLOOR),
                ("recommendations", PATH),
            ):
                with CpuMeter(services) as cpu:
                    row[name] = wrk(port, path, tokens, args)
                row[name]["gunicorn_cpu_s"] = round(cpu.used.get("gunicorn", 0), 2)
                log(f"round {n + 1} {name}: {row[name]}")
            constant = row["constant"]["requests_per_s"]
            row["ratio"] = round(row["recommendations"]["requests_per_s"] / constant, 3)
            row["floor_ratio"] = round(row["floor"]["requests_per_s"] / constant, 3)
            results["rounds"].append(row)
    finally:
        services.stop()
    ratios = [r["ratio"] for r in results["rounds"]]
    results["ratio_median"] = sorted(ratios)[len(ratios) // 2]
    print(
        f"{'round':<6} {'constant req/s':>15} {'floor req/s':>12} {'recs req/s':>11} "
        f"{'floor/const':>12} {'recs/const':>11} {'recs p50 ms':>12} {'recs p99 ms':>12}"
    )
    for n, r in enumerate(results["rounds"], start=1):
        print(
            f"{n:<6} {r['constant']['requests_per_s']:15.1f} "
            f"{r['floor']['requests_per_s']:12.1f} "
            f"{r['recommendations']['requests_per_s']:11.1f} {r['floor_ratio']:12.3f} "
            f"{r['ratio']:11.3f} {r['recommendations']['latency_ms_p50']:12.2f} "
            f"{r['recommendations']['latency_ms_p99']:12.2f}"
        )
    print(
        f"recommendations / constant: {ratios} (goal >= 0.7); floor / constant: "
        f"{[r['floor_ratio'] for r in results['rounds']]}; load average after {load_average()}"
    )
    emit_results(results, args.json)
    bad = results["check"]["bad"] or any(
        r[k]["errors"] for r in results["rounds"] for k in ("constant", "floor", "recommendations")
    )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
