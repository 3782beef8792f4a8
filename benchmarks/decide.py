#!/usr/bin/env python
"""Decide benchmark: requests/s and latency of ``POST decide`` against a constant DRF answer.

    .venv/bin/python benchmarks/decide.py --duration 10 --concurrency 8

The product goal is that deciding five placements costs little over answering at all: decide
should reach at least 0.7x the requests/s of a DRF view that parses the same body and returns a
constant of the same size (``POST /bench/constant``), at the same concurrency, in the same run.

One run (``DJANGO_SETTINGS_MODULE=benchmarks.settings``; ``DATABASE_URL`` default
``postgres://postgres@127.0.0.1:5432/bench``, ``REDIS_URL`` default ``redis://127.0.0.1:6379/5``):

1. create/migrate the database, empty every ``personalization_*`` table and flush the Redis db;
   in this process, 50 enabled segments (``save_segment``; the mix of ``segments.py``: event
   counts, value sums, traits, visits, consent, samples, device, time of day, referrer, query
   parameters, language, country, nesting and a reference) and 5 ``PersonalizedContent`` snippets
   ``placement-1`` .. ``placement-5``, each with 4 variants and default content;
2. start gunicorn and a Celery worker (``ingest.Services``), create ``--visitors`` visitors with
   ``POST consent``, send events for two thirds of them and traits for half (``POST events``,
   ``POST visitors/<id>/traits`` with the bench API key), wait until everything is folded;
3. one decide per visitor (checks the answers, warms the snapshot cache), then in this process
   decides through Django's test client with the SQL statements, cache calls and impression
   rows counted per call (first call, visitors with a profile, consented visitors without one);
4. load: ``--rounds`` x (baseline, decide), each ``--duration`` seconds at ``--concurrency``
   connections, with ``wrk`` if it is installed (a Lua script cycles over the visitors' tokens),
   else with the keep-alive Python client of ``ingest.py``; requests/s, latency p50/p99, gunicorn
   CPU per request, and the impression rows written (5 per decide for consenting visitors).

Prints a table, then the results as one JSON line (the last line of stdout; ``--json PATH`` too).
Exits non-zero if a decide failed, the impressions do not add up or the server logs show errors.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from common import (  # benchmarks/common.py, beside this script
    emit_results,
    ensure_database,
    load_average,
    local_services,
    log,
    run_wrk,
    service_env,
)
from ingest import (
    API,
    HOST,
    USER_AGENT,
    Client,
    CpuMeter,
    Database,
    Services,
    create_visitors,
    free_port,
    headers_for,
    parse_token,
    pct,
    run_requests,
    truncate_personalization,
    wait_drained,
)
from segments import CacheCounter, random_event, request_segments

PLACEMENTS = [f"placement-{n}" for n in range(1, 6)]
SEGMENT_COUNT = 50
API_KEY_HEADER = {"Authorization": "Api-Key bench-secret"}  # benchmarks/settings.py


# --------------------------------------------------------------------------- set-up


def setup_django(env: dict) -> None:
    """This process uses the same database, Redis db and cache prefix as gunicorn, so that the
    definition and content versions it bumps are the ones the server reads."""
    os.environ.update(
        {k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
        | {"CACHE_KEY_PREFIX": env["CACHE_KEY_PREFIX"], "LOG_LEVEL": env["LOG_LEVEL"]}
    )
    import django

    django.setup()
    from django.core.management import call_command

    log("migrating ...")
    call_command("migrate", interactive=False, verbosity=0)


def create_segments() -> list[str]:
    from personalization.segments.models import Segment
    from personalization.segments.services import save_segment

    slugs = []
    for slug, rules in request_segments(SEGMENT_COUNT):
        save_segment(Segment(name=f"Bench {slug}", slug=slug, rules=rules, status="enabled"))
        slugs.append(slug)
    return slugs


def content(label: str) -> list[dict]:
    """A variant's (or the default's) blocks: heading, paragraph and call to action."""
    blocks = [
        {"type": "heading", "value": f"{label}: picked for you"},
        {
            "type": "paragraph",
            "value": f"<p>{label}. Copy written for this audience, a sentence or two long, "
            "with <b>some</b> markup.</p>",
        },
        {
            "type": "call_to_action",
            "value": {"text": "See the offer", "link": "/offers/", "style": "primary"},
        },
    ]
    return [{**block, "id": str(uuid.uuid4())} for block in blocks]  # as the editor saves them


def create_snippets(segments: list[str]) -> None:
    """Five snippets; their four variants target different segments with ``any`` and ``all``
    matches, so visitors get a mix of variants and default content."""
    from personalization.variants.models import PersonalizedContent

    for n, slug in enumerate(PLACEMENTS, start=1):

        def pick(k: int, count: int, n: int = n) -> list[str]:
            return [segments[(n * 7 + k * 11 + j * 5) % len(segments)] for j in range(count)]

        variants = [
            ("Any of two", pick(1, 2), "any"),
            ("All of two", pick(2, 2), "all"),
            ("Any of three", pick(3, 3), "any"),
            ("One segment", pick(4, 1), "any"),
        ]
        PersonalizedContent.objects.create(
            name=f"Placement {n}",
            slug=slug,
            variants=[
                {
                    "type": "variant",
                    "value": {
                        "name": name,
                        "segments": targets,
                        "match": match,
                        "start": None,
                        "end": None,
                        "content": content(f"Placement {n}, {name.lower()}"),
                    },
                }
                for name, targets, match in variants
            ],
            fallback=content(f"Placement {n}, default"),
        )


def visitor_events(rng: random.Random, v: int, run: str) -> list[dict]:
    """A visitor's history (10-60 events over 20 days, half in the last day): page views with
    tags and categories, clicks, add-to-cart and purchases with values."""
    now = datetime.now(UTC)
    events = []
    for n in range(rng.randint(10, 60)):
        kind, age, props = random_event(rng, n)
        if "value" in props:
            props["currency"] = "EUR"
        stamp = (now - age).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        events.append(
            {"type": kind, "id": f"{run}-{v}-{n}", "timestamp": stamp, "properties": props}
        )
    return events


def build_profiles(port: int, tokens: list[str], concurrency: int, seed: int) -> dict:
    """Events for two visitors in three and traits for every other one, through the API."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    jobs, events = [], 0
    for v, token in enumerate(tokens):
        if v % 3 == 2:
            continue
        batch = visitor_events(rng, v, run)
        events += len(batch)
        body = {"events": batch, "context": {"url": "https://shop.example/", "referrer": ""}}
        jobs.append((f"{API}/events", json.dumps(body).encode(), headers_for(token)))
    _elapsed, res = run_requests(port, jobs, concurrency)
    accepted = sum(r["body"]["accepted"] for r in res if r["status"] == 202)
    jobs = []
    for v, token in enumerate(tokens[::2]):
        traits = {"tier": ["gold", "silver", "bronze"][v % 3], "age": 18 + v % 50}
        if v % 4 == 0:
            traits["newsletter"] = True
        body = json.dumps({"traits": traits}).encode()
        jobs.append(
            (f"{API}/visitors/{parse_token(token)}/traits", body, headers_for() | API_KEY_HEADER)
        )
    _elapsed, traits_res = run_requests(port, jobs, concurrency)
    return {
        "visitors_with_events": len(res),
        "events_sent": events,
        "events_accepted": accepted,
        "visitors_with_traits": sum(r["status"] == 200 for r in traits_res),
        "failures": [r for r in [*res, *traits_res] if r["status"] not in (200, 202)][:3],
    }


def decide_body(v: int) -> bytes:
    """The decide request of visitor ``v``: every other one came from a spring campaign."""
    query = "?utm_source=news&utm_campaign=spring" if v % 2 else ""
    body = {
        "placements": PLACEMENTS,
        "context": {"url": f"https://shop.example/p/{v % 40}/{query}", "timezone": "Europe/Paris"},
    }
    return json.dumps(body, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- checks


def check_answers(port: int, tokens: list[str], concurrency: int) -> dict:
    """One decide per visitor: every answer must be a 200 with the five placements."""
    jobs = [(f"{API}/decide", decide_body(v), headers_for(t)) for v, t in enumerate(tokens)]
    _elapsed, res = run_requests(port, jobs, concurrency)
    ok = [r for r in res if r["status"] == 200]
    variants = Counter()
    by_placement = {slug: Counter() for slug in PLACEMENTS}
    segment_counts = []
    for r in ok:
        segment_counts.append(len(r["body"]["segments"]))
        for slug, item in r["body"]["placements"].items():
            variants["variant" if item["variant"] else "default"] += 1
            by_placement[slug][item["variant_name"] or "default"] += 1
    complete = all(set(r["body"]["placements"]) == set(PLACEMENTS) for r in ok)
    return {
        "answers": len(res),
        "ok": len(ok),
        "all_placements_answered": complete,
        "segments_per_visitor_mean": round(statistics.fmean(segment_counts), 1)
        if segment_counts
        else None,
        "segments_per_visitor_min_max": [min(segment_counts), max(segment_counts)]
        if segment_counts
        else None,
        "visitors_in_no_segment": sum(1 for n in segment_counts if n == 0),
        "placements_variant_vs_default": dict(variants),
        "shown_per_placement": {slug: dict(c) for slug, c in by_placement.items()},
        "failures": [r for r in res if r["status"] != 200][:3],
    }


def profiled_tokens(tokens: list[str]) -> set[str]:
    """The tokens of visitors that have a profile row (events folded or traits set)."""
    from personalization.profiles.models import VisitorProfile

    ids = set(VisitorProfile.objects.values_list("visitor_id", flat=True))
    return {t for t in tokens if parse_token(t) in ids}


def flush_impressions() -> int:
    """Write the impressions the server buffered in Redis (a beat task's job in production)."""
    from personalization.variants.services import flush_impressions as flush

    return flush()


class RedisRoundTrips:
    """Counts round trips to Redis made by this thread (one packed send each)."""

    def __enter__(self):
        from redis.connection import AbstractConnection

        self.count, self._depth, me = 0, 0, threading.get_ident()
        self._send = send = AbstractConnection.send_packed_command

        def counted(conn, *args, **kwargs):
            if threading.get_ident() == me and not self._depth:
                self.count += 1
            self._depth += 1
            try:
                return send(conn, *args, **kwargs)
            finally:
                self._depth -= 1

        AbstractConnection.send_packed_command = counted
        return self

    def __exit__(self, *exc):
        from redis.connection import AbstractConnection

        AbstractConnection.send_packed_command = self._send


def in_process_costs(tokens: list[str], profiled: set[str]) -> dict:
    """SQL queries, cache calls and impression rows of single decide calls through the full
    middleware stack (Django's test client), in this process: the first call pays for compiling
    the segment and snippet definitions, later ones are the steady state of a server. Visitors
    with a profile and consenting visitors without one (nothing folded yet) are reported apart."""
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    from personalization.variants.models import Impression

    client = DjangoClient()

    def flushed_count() -> int:
        flush_impressions()
        return Impression.objects.count()

    def one(v: int) -> dict:
        before = flushed_count()
        with (
            CaptureQueriesContext(connection) as queries,
            CacheCounter() as cache_calls,
            RedisRoundTrips() as redis_trips,
        ):
            response = client.post(
                f"{API}/decide",
                data=decide_body(v),
                content_type="application/json",
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept-Language": "en-GB,en;q=0.9",
                    "X-Visitor-Id": tokens[v],
                },
            )
        return {
            "status": response.status_code,
            "queries": len(queries.captured_queries),
            "sql": [q["sql"][:160] for q in queries.captured_queries],
            "cache_calls": dict(sorted(cache_calls.calls.items())),
            # Packed sends to Redis (a command, a pipeline or a script each): the plugin's hot
            # read bypasses the cache API, so the cache calls alone would undercount.
            "cache_round_trips": redis_trips.count,
            "impressions_written": flushed_count() - before,
            "response_bytes": len(response.content),
        }

    def summary(calls: list[dict]) -> dict:
        return {
            "calls": len(calls),
            "statuses": dict(Counter(str(c["status"]) for c in calls)),
            "queries_per_call": sorted({c["queries"] for c in calls}),
            "cache_round_trips_per_call": sorted({c["cache_round_trips"] for c in calls}),
            "cache_calls": calls[-1]["cache_calls"] if calls else {},
            "sql": calls[-1]["sql"] if calls else [],
            "impressions_per_call": sorted({c["impressions_written"] for c in calls}),
        }

    first = one(0)
    with_profile = [v for v, t in enumerate(tokens) if t in profiled][1:21]
    without = [v for v, t in enumerate(tokens) if t not in profiled][:10]
    warm = [one(v) for v in with_profile]
    return {
        "first_call_in_process": {k: v for k, v in first.items() if k != "sql"},
        "first_call_sql": first["sql"],
        "warm_with_profile": summary(warm),
        "warm_consent_only_no_profile": summary([one(v) for v in without]),
        "decide_response_bytes": warm[-1]["response_bytes"] if warm else None,
    }


# --------------------------------------------------------------------------- load


LUA = """
-- written by benchmarks/decide.py: cycles over the visitors' requests
local path = [==[{path}]==]
local tokens = {{ {tokens} }}
local bodies = {{ {bodies} }}
local requests = {{}}
local counter = 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  for i = 1, #tokens do
    requests[i] = wrk.format("POST", path, {{
      ["Content-Type"] = "application/json",
      ["User-Agent"] = [==[{user_agent}]==],
      ["Accept-Language"] = "en-GB,en;q=0.9",
      ["X-Visitor-Id"] = tokens[i],
    }}, bodies[i])
  end
  counter = (tid or 0) * 7919
end

function request()
  counter = counter + 1
  return requests[(counter % #requests) + 1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'PZJSON {{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def lua_string(value: str) -> str:
    return f"[==[{value}]==]"


def wrk_load(port: int, path: str, requests: list[tuple[str, bytes]], args) -> dict:
    """``wrk`` for ``args.duration`` seconds; non-2xx/3xx answers count as errors."""
    script = LUA.format(
        path=path,
        tokens=", ".join(lua_string(t) for t, _b in requests),
        bodies=", ".join(lua_string(b.decode()) for _t, b in requests),
        user_agent=USER_AGENT,
    )
    raw = run_wrk(
        script,
        f"http://{HOST}:{port}{path}",
        concurrency=args.concurrency,
        duration=args.duration,
        threads=max(1, min(2, args.concurrency)),
    )
    seconds = raw["duration_us"] / 1e6
    errors = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]}
    return {
        "requests": raw["requests"],
        "ok_requests": raw["requests"] - raw["status"],
        "seconds": round(seconds, 2),
        "requests_per_s": round(raw["requests"] / seconds, 1),
        "latency_ms_p50": round(raw["p50_us"] / 1000, 2),
        "latency_ms_p90": round(raw["p90_us"] / 1000, 2),
        "latency_ms_p99": round(raw["p99_us"] / 1000, 2),
        "latency_ms_max": round(raw["max_us"] / 1000, 2),
        "latency_ms_mean": round(raw["mean_us"] / 1000, 2),
        "response_bytes_mean": round(raw["bytes"] / raw["requests"]) if raw["requests"] else None,
        "errors": errors,
    }


def python_load(port: int, path: str, requests: list[tuple[str, bytes]], args) -> dict:
    """The fallback: ``args.concurrency`` threads, each on one keep-alive connection
    (``ingest.Client``), sending until the deadline. Heavier on the shared cores than wrk."""
    deadline = time.perf_counter() + args.duration
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter = Counter()
    received = [0]

    def worker(offset: int) -> None:
        client = Client(port, timeout=10)
        mine, codes, size = [], Counter(), 0
        n = offset * 7919
        while time.perf_counter() < deadline:
            n += 1
            token, body = requests[n % len(requests)]
            start = time.perf_counter()
            try:
                status, data = client.request("POST", path, body, headers_for(token))
                size += len(data)
            except Exception:  # timeouts, refused: counted, never fatal
                status = 0
            mine.append((time.perf_counter() - start) * 1000)
            codes[status] += 1
        client.close()
        with lock:
            latencies.extend(mine)
            statuses.update(codes)
            received[0] += size

    start = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(worker, range(args.concurrency)))
    seconds = time.perf_counter() - start
    ok = sum(n for code, n in statuses.items() if 200 <= code < 400)
    total = len(latencies)
    return {
        "requests": total,
        "ok_requests": ok,
        "seconds": round(seconds, 2),
        "requests_per_s": round(total / seconds, 1),
        "latency_ms_p50": round(pct(latencies, 50), 2),
        "latency_ms_p90": round(pct(latencies, 90), 2),
        "latency_ms_p99": round(pct(latencies, 99), 2),
        "latency_ms_max": round(max(latencies), 2) if latencies else None,
        "latency_ms_mean": round(statistics.fmean(latencies), 2) if latencies else None,
        "response_bytes_mean": round(received[0] / total) if total else None,
        "errors": {str(k): v for k, v in statuses.items() if not 200 <= k < 400},
    }


def measure(load, services: Services, port: int, path: str, requests, args) -> dict:
    """One load phase with the CPU it cost gunicorn, PostgreSQL, Redis and the client."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with CpuMeter(services) as cpu:
        result = load(port, path, requests, args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = dict(cpu.used)
    used.pop("celery", None)  # idle during the load
    used["bench client"] = round(
        used.get("bench client", 0)
        + (after.ru_utime - children.ru_utime)
        + (after.ru_stime - children.ru_stime),
        2,
    )
    result["cpu_s"] = used
    if result["requests"]:
        result["gunicorn_cpu_ms_per_request"] = round(
            used["gunicorn"] / result["requests"] * 1000, 3
        )
    return result


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per load phase")
    parser.add_argument("--concurrency", type=int, default=8, help="connections")
    parser.add_argument("--rounds", type=int, default=3, help="baseline + decide pairs")
    parser.add_argument("--warmup", type=float, default=3, help="seconds, each endpoint, once")
    parser.add_argument("--visitors", type=int, default=300)
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.rounds < 1 or args.duration < 1 or args.concurrency < 1 or args.visitors < 6:
        parser.error("--rounds, --duration and --concurrency >= 1, --visitors >= 6")

    database_url, redis_url = local_services(parser, "bench", 5)
    wrk = shutil.which("wrk")
    if args.client == "wrk" and not wrk:
        parser.error("wrk is not installed (apt-get install wrk), use --client python")
    load = wrk_load if wrk and args.client != "python" else python_load
    client_name = "wrk" if load is wrk_load else "python (ingest.Client, keep-alive threads)"
    log(f"load generator: {client_name}")
    env = service_env(database_url, redis_url)
    started = time.perf_counter()

    ensure_database(database_url)
    setup_django(env)
    truncate_personalization(database_url)
    import redis

    redis.Redis.from_url(redis_url, socket_timeout=5).flushdb()
    segments = create_segments()
    create_snippets(segments)
    log(f"created {len(segments)} segments and {len(PLACEMENTS)} snippets")

    services = Services(env, args, free_port())
    db = Database(database_url)
    results: dict = {
        "config": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "load generator": client_name,
            "duration s x rounds": f"{args.duration} x {args.rounds}",
            "connections": args.concurrency,
            "visitors": args.visitors,
            "segments / placements per call": f"{len(segments)} / {len(PLACEMENTS)}",
            "gunicorn": f"{args.workers} workers x {args.threads} threads ({args.worker_class})",
            "cpus": os.cpu_count(),
            "load average before (1, 5, 15 min)": load_average(),
        }
    }
    problems: list[str] = []
    findings: list[str] = []
    try:
        services.start()
        services.wait_ready(redis_url)
        port = services.port
        log(f"services ready on port {port} (logs in {services.logdir})")

        tokens, _consent_s = create_visitors(port, args.visitors, args.concurrency)
        profiles = build_profiles(port, tokens, args.concurrency, args.seed)
        if profiles["failures"]:
            problems.append(f"profile set-up failed: {profiles['failures'][0]}")
        if wait_drained(db, services, 120) is None:
            problems.append("events not folded within 120 s")
        time.sleep(0.5)  # the snapshot refresh runs on the fold's commit
        results["profiles"] = profiles

        answers = check_answers(port, tokens, args.concurrency)
        results["answers"] = answers
        if answers["ok"] != len(tokens) or not answers["all_placements_answered"]:
            problems.append(f"decide answers: {answers}")
        profiled = profiled_tokens(tokens)
        results["profiles"]["visitors_with_a_profile"] = len(profiled)
        costs = in_process_costs(tokens, profiled)
        results["per_call"] = costs
        per_call = costs["warm_with_profile"]["impressions_per_call"]
        if per_call != [len(PLACEMENTS)]:
            problems.append(f"impressions per call (visitors with a profile): {per_call}")
        profiled_share = len(profiled) / len(tokens)
        without = costs["warm_consent_only_no_profile"]["impressions_per_call"]
        if without and without != [len(PLACEMENTS)]:
            # Reported, not a failure of the run: the plugin's current behaviour (README).
            findings.append(
                f"consented visitors without a profile row: {without} impression rows per "
                f"decide (expected {len(PLACEMENTS)}); {len(tokens) - len(profiled)} of "
                f"{len(tokens)} visitors here"
            )

        requests = [(t, decide_body(v)) for v, t in enumerate(tokens)]
        phases = {"baseline": "/bench/constant", "decide": f"{API}/decide"}
        warmup = argparse.Namespace(**{**vars(args), "duration": args.warmup})
        for path in phases.values():  # every gunicorn thread's connections and definitions
            load(port, path, requests, warmup)
        # Let the warm-up's last decides finish, and an idle server push the impressions they
        # left waiting (visitor_cache.DEFER_SECONDS), before counting impressions.
        time.sleep(1.0)
        rounds = []
        for n in range(args.rounds):
            row = {}
            for name, path in phases.items():
                flush_impressions()  # decides buffer impressions in Redis; beat writes them
                impressions_before = db.value("select count(*) from personalization_impression")
                row[name] = measure(load, services, port, path, requests, args)
                time.sleep(1.0)  # requests in flight, and rows waiting in the server (0.2 s)
                flush_impressions()
                written = (
                    db.value("select count(*) from personalization_impression") - impressions_before
                )
                row[name]["impressions_written"] = written
                log(
                    f"  round {n + 1} {name}: {row[name]['requests_per_s']} req/s, "
                    f"p50 {row[name]['latency_ms_p50']} ms, p99 {row[name]['latency_ms_p99']} ms"
                )
            d = row["decide"]
            # Each decide that records writes all its placements in one INSERT. Every visitor
            # here consented, so every decide should record; the share of visitors with a
            # profile row is shown beside it because that is what recorded before the fix in
            # context.py (README). Requests still in flight when the client stopped are
            # answered but not counted, so the share can pass 100 % by a few of them.
            recording = d["impressions_written"] / len(PLACEMENTS)
            d["decides_recording_impressions_share"] = round(recording / d["ok_requests"], 3)
            d["share_visitors_with_profile"] = round(profiled_share, 3)
            if d["impressions_written"] % len(PLACEMENTS) or recording > d["ok_requests"] + (
                args.concurrency  # requests in flight when the client stopped
            ):
                problems.append(
                    f"round {n + 1}: {d['impressions_written']} impressions for "
                    f"{d['ok_requests']} decides"
                )
            if d["ok_requests"] != d["requests"] or d["errors"]:
                problems.append(f"round {n + 1}: decide errors {d['errors']}")
            row["ratio_decide_over_baseline"] = round(
                d["requests_per_s"] / row["baseline"]["requests_per_s"], 3
            )
            rounds.append(row)
        results["rounds"] = rounds

        def median(name: str, key: str) -> float:
            return round(statistics.median(r[name][key] for r in rounds), 2)

        summary = {
            name: {
                key: median(name, key)
                for key in (
                    "requests_per_s",
                    "latency_ms_p50",
                    "latency_ms_p99",
                    "gunicorn_cpu_ms_per_request",
                )
            }
            for name in phases
        }
        summary["ratio_decide_over_baseline"] = round(
            summary["decide"]["requests_per_s"] / summary["baseline"]["requests_per_s"], 3
        )
        summary["ratio_per_round"] = [r["ratio_decide_over_baseline"] for r in rounds]
        # Less sensitive to other work on the machine than req/s: what each request costs.
        summary["cpu_ratio_baseline_over_decide"] = round(
            summary["baseline"]["gunicorn_cpu_ms_per_request"]
            / summary["decide"]["gunicorn_cpu_ms_per_request"],
            3,
        )
        summary["goal_0_7_met"] = summary["ratio_decide_over_baseline"] >= 0.7
        results["summary"] = summary
    finally:
        services.stop()
        db.close()
        logged = services.problems()
        if logged:
            results["server_log_problems"] = {k: v[:20] for k, v in logged.items()}
            problems.append("errors in the server logs")
        results["config"]["load average after (1, 5, 15 min)"] = load_average()
        results["logs"] = str(services.logdir)
        results["problems"] = problems
        results["findings"] = findings
        results["total_seconds"] = round(time.perf_counter() - started, 1)
        print_table(results)
        emit_results(results, args.json)
    return 1 if problems else 0


def print_table(r: dict) -> None:
    def row(label, value):
        print(f"  {label:<44} {value}")

    print("\n=== personalization decide benchmark ===")
    for k, v in r.get("config", {}).items():
        row(k, v)
    p = r.get("profiles")
    if p:
        row(
            "visitors with events / traits",
            f"{p['visitors_with_events']} ({p['events_accepted']} events) / "
            f"{p['visitors_with_traits']}",
        )
        row("visitors with a profile row", p.get("visitors_with_a_profile"))
    a = r.get("answers")
    if a:
        row(
            "segments per visitor: mean [min, max]",
            f"{a['segments_per_visitor_mean']} {a['segments_per_visitor_min_max']}",
        )
        row("placements served: variant / default", a["placements_variant_vs_default"])
        for slug, shown in a.get("shown_per_placement", {}).items():
            row(f"  {slug}", ", ".join(f"{k} {v}" for k, v in sorted(shown.items())))
    c = r.get("per_call")
    if c:
        print("-- single decide calls in process (test client, full middleware)")
        first = c["first_call_in_process"]
        row(
            "first call: SQL statements / cache round trips",
            f"{first['queries']} / {first['cache_round_trips']}",
        )
        for label, key in (
            ("warm, visitor with a profile", "warm_with_profile"),
            ("warm, consented, no profile yet", "warm_consent_only_no_profile"),
        ):
            w = c[key]
            if not w["calls"]:
                continue
            row(
                f"{label}: SQL / cache / impressions",
                f"{w['queries_per_call']} / {w['cache_round_trips_per_call']} "
                f"{w['cache_calls']} / {w['impressions_per_call']}",
            )
            for sql in w["sql"]:
                row("  SQL", sql[:80])
        row("decide answer bytes", c["decide_response_bytes"])
    rounds = r.get("rounds", [])
    if rounds:
        print("-- load (each phase: same connections, same duration)")
        print(
            f"  {'round':<7}{'endpoint':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'gunicorn CPU ms/req':>21}{'impressions':>13}"
        )
        for n, rnd in enumerate(rounds, start=1):
            for name in ("baseline", "decide"):
                x = rnd[name]
                print(
                    f"  {n:<7}{name:<10}{x['requests_per_s']:>9}{x['latency_ms_p50']:>9}"
                    f"{x['latency_ms_p99']:>9}{x.get('gunicorn_cpu_ms_per_request', ''):>21}"
                    f"{x['impressions_written'] if name == 'decide' else '':>13}"
                )
            d = rnd["decide"]
            if "decides_recording_impressions_share" in d:
                print(
                    f"  {'':<7}decides that recorded impressions: "
                    f"{d['decides_recording_impressions_share']:.1%} (consented: 100%; "
                    f"with a profile row: {d['share_visitors_with_profile']:.1%})"
                )
    s = r.get("summary")
    if s:
        print("-- medians over the rounds")
        for name in ("baseline", "decide"):
            x = s[name]
            row(
                f"{name}: req/s, p50 / p99 ms",
                f"{x['requests_per_s']}, {x['latency_ms_p50']} / {x['latency_ms_p99']}",
            )
        row("RATIO decide / baseline req/s", f"{s['ratio_decide_over_baseline']} (goal >= 0.7)")
        row("ratio per round", s["ratio_per_round"])
        row(
            "gunicorn CPU ms/req: baseline / decide",
            f"{s['baseline']['gunicorn_cpu_ms_per_request']} / "
            f"{s['decide']['gunicorn_cpu_ms_per_request']} "
            f"(ratio {s['cpu_ratio_baseline_over_decide']})",
        )
    for finding in r.get("findings", []):
        row("FINDING", finding)
    for problem in r.get("problems", []):
        row("PROBLEM", problem)
    for name, lines in r.get("server_log_problems", {}).items():
        for line in lines[:10]:
            print(f"  [{name}] {line}")
    row("total run time (s)", r.get("total_seconds"))
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
