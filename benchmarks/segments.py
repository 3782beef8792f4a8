#!/usr/bin/env python
"""Segment benchmark: per-request decisions from the cache, the peer's query-per-rule model, and
bulk membership recomputes on PostgreSQL.

    .venv/bin/python benchmarks/segments.py                 # 1,000,000 synthetic profiles
    .venv/bin/python benchmarks/segments.py --profiles 200000

One run, in this process (``DJANGO_SETTINGS_MODULE=benchmarks.settings``; ``DATABASE_URL`` default
``postgres://postgres@127.0.0.1:5432/bench_segments``, ``REDIS_URL`` default
``redis://127.0.0.1:6379/6``): create/migrate the database, empty every ``personalization_*``
table and flush the Redis db, then

1. per request: one consented visitor with ~200 folded events, 1 / 10 / 50 enabled segments with
   mixed profile and request conditions; ``visitor_segments`` on a warm Redis cache (µs per call
   and per segment, DB queries and cache calls per call), and ``evaluate`` alone (no I/O);
2. the peer's approach (re-test every segment per page view with a database query), measured with
   one ``exists()`` query per segment, against the plugin, at the same segment counts;
3. bulk: ``--profiles`` synthetic profiles and counters made in SQL, 20 dynamic segments, and
   ``recompute_segment`` three times: from empty, unchanged, and after ~1% of profiles changed.

Prints a table, then the results as one JSON line (the last line of stdout). Exits non-zero on an
inconsistency (a query on the warm hot path, a second recompute that changes anything, sizes that
do not add up, a decision the peer model disagrees with).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from common import emit_results, ensure_database, log  # benchmarks/common.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
PEER_QUERIES_PER_SEGMENT = 462 / 50  # quoted from the wagtail-personalisation comparison
TAGS = ["sport", "running", "outdoor", "travel", "food", "tech"]


# --------------------------------------------------------------------------- setup


def random_event(rng: random.Random, n: int) -> tuple[str, timedelta, dict]:
    """(type, age, properties) of the n-th event of a visitor's made-up history: page views with
    tags and categories, clicks, add-to-cart and purchases with values; half of them in the last
    day (hourly buckets), the rest over 20 days."""
    kind = rng.choices(
        ["page_view", "click", "content_view", "add_to_cart", "purchase"], [65, 15, 10, 6, 4]
    )[0]
    age = timedelta(hours=rng.uniform(0, 24)) if n % 2 else timedelta(days=rng.uniform(0, 20))
    props: dict = {"tags": rng.sample(TAGS, rng.randint(0, 2))}
    if kind == "page_view":
        props |= {"page_id": rng.randint(1, 40), "category": rng.choice(["shop", "blog"])}
    if kind in ("add_to_cart", "purchase"):
        props["value"] = round(rng.uniform(10, 200), 2)
    return kind, age, props


def setup_django(database_url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ.setdefault("CACHE_KEY_PREFIX", "bench-seg")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    ensure_database(database_url)
    import django

    django.setup()
    from django.core.management import call_command

    log("migrating ...")
    call_command("migrate", interactive=False, verbosity=0)
    truncate_personalization()
    import redis

    redis.Redis.from_url(redis_url, socket_timeout=5).flushdb()


def truncate_personalization() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "select tablename from pg_tables where schemaname = 'public' "
            "and tablename like 'personalization\\_%%'"
        )
        tables = [r[0] for r in cursor.fetchall()]
        if tables:
            cursor.execute("truncate " + ", ".join(f'"{t}"' for t in tables) + " cascade")


class QueryCounter:
    """Counts SQL statements sent on the default connection (no cap, unlike queries_log)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self):
        from django.db import connection

        self._cm = connection.execute_wrapper(self)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


class CacheCounter:
    """Counts calls to the default cache's methods (each one is one Redis round trip)."""

    METHODS = ("get", "get_many", "set", "set_many", "add", "incr", "delete", "delete_many")

    def __init__(self):
        from django.core.cache import caches

        self.store = caches["default"]
        self.calls: dict[str, int] = {}

    def __enter__(self):
        for name in self.METHODS:
            original = getattr(self.store, name)

            def wrapper(*args, _name=name, _original=original, **kwargs):
                self.calls[_name] = self.calls.get(_name, 0) + 1
                return _original(*args, **kwargs)

            setattr(self.store, name, wrapper)
        return self

    def __exit__(self, *exc):
        for name in self.METHODS:
            delattr(self.store, name)  # back to the class's method
        return False


# --------------------------------------------------------------------------- 1. per request


def request_segments(count: int) -> list[tuple[str, dict]]:
    """``count`` (slug, rules) pairs, mixing every condition family; deterministic."""
    w = {"amount": 24, "unit": "hours"}
    templates = [
        lambda i: {
            "type": "event_count",
            "params": {"event": "page_view", "op": ">=", "value": 1 + i % 5, "within": w},
        },
        lambda i: {
            "type": "event_count",
            "params": {
                "event": "page_view",
                "dimension": f"tag:{TAGS[i % len(TAGS)]}",
                "op": ">=",
                "value": 2 + i % 4,
                "within": {"amount": 7 + i % 20, "unit": "days"},
            },
        },
        lambda i: {
            "type": "value_sum",
            "params": {"event": "purchase", "op": ">=", "value": 50 * (1 + i % 4)},
        },
        lambda i: {"type": "trait", "params": {"name": "tier", "op": "in", "value": ["gold"]}},
        lambda i: {
            "all": [
                {"type": "visit_count", "params": {"op": ">=", "value": 1 + i % 3}},
                {"type": "returning", "params": {"value": True}},
            ]
        },
        lambda i: {"type": "consent", "params": {"purpose": "marketing", "granted": False}},
        lambda i: {"type": "random_sample", "params": {"percent": 10 + i % 80}},
        lambda i: {
            "all": [
                {"type": "device", "params": {"in": ["mobile", "tablet"]}},
                {"type": "trait", "params": {"name": "age", "op": "gte", "value": 20 + i % 30}},
            ]
        },
        lambda i: {"type": "time_of_day", "params": {"from": "22:00", "to": "06:00"}},
        lambda i: {"type": "referrer", "params": {"match": "domain", "value": "google.com"}},
        lambda i: {
            "type": "query_param",
            "params": {"name": "utm_campaign", "value": "spring" if i % 2 else "autumn"},
        },
        lambda i: {
            "any": [
                {
                    "type": "event_count",
                    "params": {"event": "purchase", "op": ">=", "value": 1, "within": w},
                },
                {
                    "not": {
                        "type": "event_count",
                        "params": {
                            "event": "add_to_cart",
                            "op": "==",
                            "value": 0,
                            "within": {"amount": 30, "unit": "days"},
                        },
                    }
                },
            ]
        },
        lambda i: {
            "all": [
                {
                    "any": [
                        {"type": "trait", "params": {"name": "newsletter", "op": "exists"}},
                        {"type": "language", "params": {"in": ["en", "de"]}},
                    ]
                },
                {"not": {"type": "persona", "params": {"in": ["bargain-hunter"]}}},
                {
                    "type": "last_seen",
                    "params": {"op": "within", "within": {"amount": 3, "unit": "days"}},
                },
            ]
        },
        lambda i: {
            "all": [
                {"type": "segment", "params": {"segment": "s00"}},
                {"type": "event_count", "params": {"event": "click", "op": ">=", "value": 1}},
            ]
        },
        lambda i: {
            "type": "event_count",
            "params": {
                "event": "page_view",
                "dimension": "category:shop",
                "op": "between",
                "value": 1,
                "value2": 40 + i,
            },
        },
        lambda i: {"type": "first_seen", "params": {"op": "before", "date": "2030-01-01"}},
        lambda i: {
            "not": {
                "any": [
                    {"type": "country", "params": {"in": ["FR", "IT"]}},
                    {
                        "type": "trait",
                        "params": {"name": "tier", "op": "equals", "value": "bronze"},
                    },
                ]
            }
        },
    ]
    out = []
    for i in range(count):
        template = templates[i % len(templates)]
        out.append((f"s{i:02d}", template(i)))
    return out


def make_visitor(rng: random.Random, events: int):
    """A consented visitor with ``events`` folded events over the last 20 days, and traits."""
    from django.utils import timezone

    from personalization.consent.services import record_consent
    from personalization.ingestion import ingest_events
    from personalization.profiles.folding import fold_visitor
    from personalization.profiles.models import VisitorProfile
    from personalization.profiles.snapshot import refresh_snapshot
    from personalization.types import EventIn, RequestContext

    vid = uuid.uuid4()
    record_consent(vid, {"analytics": True, "personalization": True})
    ctx = RequestContext.from_user_agent(USER_AGENT, language="en-GB")
    now = timezone.now()
    batch = []
    for n in range(events):
        kind, age, props = random_event(rng, n)
        batch.append(EventIn(type=kind, timestamp=now - age, properties=props, client_id=f"e{n}"))
    result = ingest_events(vid, batch, ctx, fold=False)
    fold_visitor(vid)
    VisitorProfile.objects.filter(visitor_id=vid).update(
        traits={"tier": "gold", "age": 34, "newsletter": True}, persona="explorer"
    )
    refresh_snapshot(vid)
    return vid, result


def time_calls(fn, iterations: int) -> list[float]:
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def summary_us(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "mean_us": round(statistics.fmean(samples) * 1e6, 1),
        "p50_us": round(ordered[len(ordered) // 2] * 1e6, 1),
        "p95_us": round(ordered[int(len(ordered) * 0.95)] * 1e6, 1),
    }


def per_request(args, problems: list[str]) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from personalization.profiles.models import VisitorProfile
    from personalization.profiles.snapshot import get_snapshot
    from personalization.segments.base import QContext
    from personalization.segments.models import Segment
    from personalization.segments.services import (
        compiled_segments,
        evaluate,
        save_segment,
        visitor_segments,
    )
    from personalization.types import RequestContext

    rng = random.Random(args.seed)
    log("per-request: ingesting the visitor's events ...")
    vid, ingested = make_visitor(rng, args.events)
    if ingested.accepted != args.events:
        problems.append(f"ingest accepted {ingested.accepted} of {args.events} events")
    ctx = RequestContext.from_user_agent(
        USER_AGENT,
        language="en-GB",
        country="DE",
        referrer="https://www.google.com/search?q=running+shoes",
        url="https://shop.example/p/7/?utm_source=news&utm_campaign=spring",
    )
    definitions = request_segments(max(args.segment_counts))
    results = {"visitor_events": ingested.accepted, "levels": []}
    created = 0
    for level in sorted(args.segment_counts):
        for slug, rules in definitions[created:level]:
            save_segment(Segment(name=slug, slug=slug, rules=rules, status="enabled"))
        created = level
        segments = compiled_segments()
        assert len(segments) == level, (len(segments), level)

        def call():
            return visitor_segments(vid, request=ctx)

        decided = call()  # warms the compiled definitions and the snapshot
        time_calls(call, 200)
        connection.queries_log.clear()
        with (
            CaptureQueriesContext(connection) as captured,
            QueryCounter() as queries,
            CacheCounter() as cache_calls,
        ):
            for _ in range(args.count_iterations):
                call()
        if len(captured.captured_queries) != queries.count:
            problems.append(f"query counters disagree: {len(captured)} vs {queries.count}")
        samples = time_calls(call, args.iterations)
        snapshot = get_snapshot(vid)

        def pure(snapshot=snapshot, segments=segments):
            return evaluate(snapshot, segments, request=ctx)

        if pure() != decided:
            problems.append(f"{level} segments: evaluate() and visitor_segments() disagree")
        time_calls(pure, 200)
        pure_samples = time_calls(pure, args.iterations)

        # The peer: every segment's profile rules re-tested with a query on every page view.
        # One exists() per segment (membership-equivalent filter) is a generous model of it.
        def peer(segments=segments):
            now = timezone.now()
            member_q: dict = {}
            held = []
            for segment in segments:
                q = segment.node.possible_q(
                    QContext(now=now, segment_slug=segment.slug, member_q=member_q)
                )
                member_q[segment.slug] = q
                if VisitorProfile.objects.filter(q, visitor_id=vid).exists():
                    held.append(segment.slug)
            return held

        possible = set(peer())
        if not set(decided) <= possible:
            problems.append(
                f"{level} segments: decided {sorted(set(decided) - possible)} but the "
                f"membership filter says no"
            )
        time_calls(peer, 10)
        peer_iterations = max(50, args.peer_iterations // level)
        with QueryCounter() as peer_queries:
            peer_samples = time_calls(peer, peer_iterations)
        qpc = queries.count / args.count_iterations
        if qpc:
            problems.append(f"{level} segments: {qpc} DB queries per warm visitor_segments call")
        row = {
            "segments": level,
            "matched": len(decided),
            "visitor_segments": summary_us(samples),
            "visitor_segments_us_per_segment": round(statistics.fmean(samples) * 1e6 / level, 2),
            "db_queries_per_call": qpc,
            "cache_calls_per_call": {
                k: v / args.count_iterations for k, v in sorted(cache_calls.calls.items())
            },
            "evaluate_only": summary_us(pure_samples),
            "evaluate_us_per_segment": round(statistics.fmean(pure_samples) * 1e6 / level, 2),
            "peer_model": {
                **summary_us(peer_samples),
                "iterations": peer_iterations,
                "queries_per_view": peer_queries.count / peer_iterations,
                "quoted_queries_per_view": round(PEER_QUERIES_PER_SEGMENT * level),
            },
        }
        row["peer_over_plugin_time"] = round(
            row["peer_model"]["mean_us"] / row["visitor_segments"]["mean_us"], 1
        )
        results["levels"].append(row)
        log(
            f"  {level:>3} segments: visitor_segments {row['visitor_segments']['mean_us']} us, "
            f"evaluate {row['evaluate_only']['mean_us']} us, "
            f"peer model {row['peer_model']['mean_us']} us"
        )
    return results


# --------------------------------------------------------------------------- 3. bulk


def bulk_segments() -> list[tuple[str, dict]]:
    def ec(event, op, value, dimension="", within=None):
        params = {"event": event, "op": op, "value": value}
        if dimension:
            params["dimension"] = dimension
        if within:
            params["within"] = within
        return {"type": "event_count", "params": params}

    def trait(name, op, value=None):
        params = {"name": name, "op": op}
        if value is not None:
            params["value"] = value
        return {"type": "trait", "params": params}

    days = lambda n: {"amount": n, "unit": "days"}  # noqa: E731
    hours = lambda n: {"amount": n, "unit": "hours"}  # noqa: E731
    returning = {"type": "returning", "params": {"value": True}}
    return [
        ("b01-views-ever", ec("page_view", ">=", 20)),
        ("b02-sport-ever", ec("page_view", ">=", 3, "tag:sport")),
        ("b03-views-48h", ec("page_view", ">=", 2, within=hours(48))),
        ("b04-views-30d", ec("page_view", ">=", 5, within=days(30))),
        (
            "b05-spent-100",
            {"type": "value_sum", "params": {"event": "purchase", "op": ">=", "value": 100}},
        ),
        ("b06-gold", trait("tier", "equals", "gold")),
        ("b07-age-40", trait("age", "gte", 40)),
        ("b08-visits-5", {"type": "visit_count", "params": {"op": ">=", "value": 5}}),
        ("b09-returning", returning),
        ("b10-sample-10", {"type": "random_sample", "params": {"percent": 10}}),
        ("b11-new", {"not": returning}),
        (
            "b12-gold-or-loyal",
            {
                "any": [
                    trait("tier", "in", ["gold", "silver"]),
                    {"type": "visit_count", "params": {"op": ">=", "value": 10}},
                ]
            },
        ),
        (
            "b13-sport-returning",
            {"all": [returning, ec("page_view", ">=", 1, "tag:sport", days(30))]},
        ),
        ("b14-no-newsletter", {"not": {"any": [trait("newsletter", "exists")]}}),
        ("b15-persona", {"type": "persona", "params": {"in": ["explorer", "loyal"]}}),
        (
            "b16-ref-views-visits",
            {
                "all": [
                    {"type": "segment", "params": {"segment": "b01-views-ever"}},
                    {"type": "visit_count", "params": {"op": "between", "value": 2, "value2": 8}},
                ]
            },
        ),
        ("b17-idle-48h", ec("page_view", "==", 0, within=hours(48))),
        (
            "b18-half-spenders",
            {
                "all": [
                    {"type": "random_sample", "params": {"percent": 50}},
                    {
                        "type": "value_sum",
                        "params": {
                            "event": "purchase",
                            "op": ">=",
                            "value": 10,
                            "within": days(30),
                        },
                    },
                ]
            },
        ),
        ("b19-seen-7d", {"type": "last_seen", "params": {"op": "within", "within": days(7)}}),
        (
            "b20-mobile-regulars",
            {
                "all": [
                    {"type": "device", "params": {"in": ["mobile"]}},
                    {"type": "visit_count", "params": {"op": ">=", "value": 3}},
                ]
            },
        ),
    ]


PROFILE_SQL = """
INSERT INTO personalization_visitorprofile (
    visitor_id, created_at, updated_at, first_seen, last_seen, visit_count,
    current_visit_started_at, event_count, device_type, os, browser, country, region, language,
    first_referrer, first_landing_url, first_utm, latest_referrer, latest_landing_url, latest_utm,
    traits, purchase_count, monetary_total, last_purchase_at, predicted_scores, persona,
    sample_bucket)
SELECT h::uuid, %(now)s, %(now)s,
    %(now)s - (i %% 300) * interval '1 day' - interval '1 hour',
    %(now)s - (i %% 20) * interval '1 day' - (i %% 23) * interval '1 hour',
    1 + (i * 7) %% 15, NULL, 1 + i %% 100,
    (ARRAY['desktop', 'mobile', 'tablet'])[1 + i %% 3], '', '', 'DE', '', 'en',
    '', '', '{}'::jsonb, '', '', '{}'::jsonb,
    CASE WHEN i %% 10 = 0 THEN jsonb_build_object('age', 18 + i %% 60)
         ELSE jsonb_build_object(
             'tier', (ARRAY['gold', 'silver', 'bronze', 'none'])[1 + (i / 7) %% 4],
             'age', 18 + i %% 60)
             || CASE WHEN i %% 3 = 0 THEN '{"newsletter": true}'::jsonb ELSE '{}'::jsonb END
    END,
    0, 0, NULL, '{}'::jsonb,
    (ARRAY['explorer', 'loyal', 'bargain-hunter', ''])[1 + (i / 3) %% 4],
    (('x' || substr(h, 1, 8))::bit(32)::bigint %% 10000)::smallint
FROM (SELECT i, md5(%(seed)s || '-' || i) AS h FROM generate_series(1, %(n)s) AS i) g
"""

# Counters for a share of the profiles: (share by id, granularity, bucket, type, dimension,
# count, value). Ids are 1..N in insertion order relative to the first id.
COUNTER_SQL = """
INSERT INTO personalization_profilecounter
    (profile_id, granularity, bucket, event_type, dimension, count, value)
SELECT p.id, %(g)s, {bucket}, %(event)s, %(dimension)s, {count}, {value}
FROM personalization_visitorprofile p
WHERE (p.id - %(first)s) %% 100 < %(share)s
"""
COUNTER_ROWS = [
    # granularity, bucket expr, event, dimension, count expr, value expr, share %
    ("t", "%(epoch)s", "page_view", "", "1 + (p.id * 13) %% 60", "0", 80),
    ("t", "%(epoch)s", "page_view", "tag:sport", "1 + (p.id * 5) %% 7", "0", 30),
    ("t", "%(epoch)s", "purchase", "", "1 + p.id %% 3", "(p.id %% 400) + 0.5", 10),
    ("d", "%(day)s - (p.id %% 40) * interval '1 day'", "page_view", "", "1 + p.id %% 9", "0", 40),
    (
        "d",
        "%(day)s - (p.id %% 25) * interval '1 day'",
        "page_view",
        "tag:sport",
        "1 + p.id %% 4",
        "0",
        20,
    ),
    ("d", "%(day)s - (p.id %% 30) * interval '1 day'", "purchase", "", "1", "(p.id %% 90) + 1", 8),
    ("h", "%(hour)s - (p.id %% 96) * interval '1 hour'", "page_view", "", "1 + p.id %% 4", "0", 20),
]


def generate_profiles(n: int, now: datetime, seed: int) -> dict:
    from django.db import connection

    from personalization.profiles.buckets import EPOCH, day_start, hour_start
    from personalization.profiles.models import VisitorProfile, sample_bucket

    timings = {}
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        start = time.perf_counter()
        cursor.execute(PROFILE_SQL, {"now": now, "n": n, "seed": f"bench{seed}"})
        timings["profiles_s"] = round(time.perf_counter() - start, 1)
        cursor.execute("SELECT min(id) FROM personalization_visitorprofile")
        first = cursor.fetchone()[0]
        start = time.perf_counter()
        rows = 0
        for g, bucket, event, dimension, count, value, share in COUNTER_ROWS:
            sql = COUNTER_SQL.format(bucket=bucket, count=count, value=value)
            cursor.execute(
                sql,
                {
                    "g": g,
                    "event": event,
                    "dimension": dimension,
                    "first": first,
                    "share": share,
                    "epoch": EPOCH,
                    "day": day_start(now),
                    "hour": hour_start(now),
                },
            )
            rows += cursor.rowcount
        timings["counters_s"] = round(time.perf_counter() - start, 1)
        start = time.perf_counter()
        cursor.execute("ANALYZE personalization_visitorprofile")
        cursor.execute("ANALYZE personalization_profilecounter")
        timings["analyze_s"] = round(time.perf_counter() - start, 1)
        cursor.execute("SET synchronous_commit = on")
    # sample_bucket computed in SQL must equal the Python function
    wrong = sum(
        1
        for visitor_id, bucket in VisitorProfile.objects.order_by("?").values_list(
            "visitor_id", "sample_bucket"
        )[:200]
        if sample_bucket(visitor_id) != bucket
    )
    return {"profiles": n, "counter_rows": rows, **timings, "sample_bucket_mismatches": wrong}


def bulk(args, problems: list[str]) -> dict:
    from django.db import connection
    from django.utils import timezone

    from personalization.profiles.models import VisitorProfile
    from personalization.segments.models import Segment, SegmentMembership
    from personalization.segments.services import (
        bump_definitions,
        compiled_segments,
        recompute_segment,
        save_segment,
    )

    truncate_personalization()
    bump_definitions()
    now = timezone.now()
    log(f"bulk: generating {args.profiles} profiles in SQL ...")
    generated = generate_profiles(args.profiles, now, args.seed)
    log(f"  {generated}")
    if generated["sample_bucket_mismatches"]:
        problems.append(f"sample_bucket differs for {generated['sample_bucket_mismatches']} rows")
    segments = [
        save_segment(Segment(name=slug, slug=slug, rules=rules, status="enabled"))
        for slug, rules in bulk_segments()
    ]
    assert len(compiled_segments()) == len(segments)
    with connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = '{int(args.statement_timeout * 1000)}ms'")

    def run(label: str) -> dict:
        rows = []
        for segment in segments:
            start = time.perf_counter()
            try:
                result = recompute_segment(segment, now=now)
            except Exception as exc:  # a timeout: recorded, the run goes on
                problems.append(f"{label} {segment.slug}: {type(exc).__name__}: {exc}".strip())
                log(f"  !! {label} {segment.slug}: {exc!r}")
                result = {"entered": None, "left": None, "size": None}
                connection.close()  # a fresh session after a cancelled statement
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SET statement_timeout = '{int(args.statement_timeout * 1000)}ms'"
                    )
            seconds = time.perf_counter() - start
            rows.append({"slug": segment.slug, "seconds": round(seconds, 2), **result})
            log(f"  {label} {segment.slug:<22} {seconds:7.2f} s  {result}")
        total = sum(r["seconds"] for r in rows)
        written = sum((r["entered"] or 0) + (r["left"] or 0) for r in rows)
        return {
            "segments": rows,
            "seconds": round(total, 1),
            "profiles_scanned_per_s": round(args.profiles * len(rows) / total) if total else None,
            "membership_rows_written": written,
        }

    log("bulk: run 1 (empty membership) ...")
    first = run("run1")
    log("bulk: run 2 (nothing changed) ...")
    second = run("run2")
    # change ~1% of the profiles: flip new <-> returning and move visit_count across thresholds
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE personalization_visitorprofile "
            "SET visit_count = CASE WHEN visit_count > 1 THEN 1 ELSE 6 END "
            "WHERE id %% 100 = %s",
            [37],
        )
        changed = cursor.rowcount
        cursor.execute("ANALYZE personalization_visitorprofile")
    log(f"bulk: run 3 ({changed} profiles changed) ...")
    third = run("run3")

    for a, b, c in zip(first["segments"], second["segments"], third["segments"], strict=True):
        slug = a["slug"]
        if None in (a["size"], b["size"], c["size"]):
            continue
        if a["left"] != 0 or a["entered"] != a["size"]:
            problems.append(
                f"run1 {slug}: entered {a['entered']} left {a['left']} size {a['size']}"
            )
        if b["entered"] != 0 or b["left"] != 0 or b["size"] != a["size"]:
            problems.append(f"run2 {slug}: not a no-op: {b}")
        if c["size"] != b["size"] + c["entered"] - c["left"]:
            problems.append(f"run3 {slug}: size {c['size']} != {b['size']} + entered - left")
        if c["entered"] + c["left"] > changed:
            problems.append(f"run3 {slug}: {c['entered'] + c['left']} moves > {changed} changes")
    if second["seconds"] >= first["seconds"]:
        problems.append(f"run2 ({second['seconds']} s) not faster than run1 ({first['seconds']} s)")
    verify = {}
    if args.verify:
        log("bulk: verifying sizes against a COUNT of each segment's filter ...")
        from personalization.segments.services import _member_qs

        member_q = _member_qs(compiled_segments(), now)
        start = time.perf_counter()
        for segment in segments:
            expected = VisitorProfile.objects.filter(member_q[segment.slug]).count()
            stored = SegmentMembership.objects.filter(segment=segment).count()
            if expected != stored:
                problems.append(f"{segment.slug}: {stored} members, filter counts {expected}")
            verify[segment.slug] = expected
        verify = {
            "ok": not any("filter counts" in p for p in problems),
            "seconds": round(time.perf_counter() - start, 1),
        }
    return {
        "generation": generated,
        "changed_profiles": changed,
        "run1_from_empty": first,
        "run2_unchanged": second,
        "run3_after_1pct": third,
        "verify": verify,
    }


# --------------------------------------------------------------------------- output


def print_table(r: dict) -> None:
    def row(label, value):
        print(f"  {label:<48} {value}")

    print("\n=== personalization segments benchmark ===")
    for k, v in r["config"].items():
        row(k, v)
    p = r.get("per_request")
    if p:
        print(f"-- 1. per request (one visitor, {p['visitor_events']} events, warm Redis cache)")
        head = (
            f"  {'segments':>8} {'matched':>7} {'visitor_segments us':>20} {'us/seg':>7} "
            f"{'queries':>7} {'cache calls':>22} {'evaluate us':>11} {'us/seg':>7}"
        )
        print(head)
        for lv in p["levels"]:
            vs, ev = lv["visitor_segments"], lv["evaluate_only"]
            calls = " + ".join(f"{v:g} {k}" for k, v in lv["cache_calls_per_call"].items())
            print(
                f"  {lv['segments']:>8} {lv['matched']:>7} "
                f"{vs['mean_us']:>9} (p95 {vs['p95_us']:>6}) "
                f"{lv['visitor_segments_us_per_segment']:>7} {lv['db_queries_per_call']:>7g} "
                f"{calls:>22} {ev['mean_us']:>11} {lv['evaluate_us_per_segment']:>7}"
            )
        print("-- 2. per page view: plugin vs the peer (re-test every segment with queries)")
        print(
            f"  {'segments':>8} {'plugin q':>8} {'plugin us':>10} {'peer q (measured)':>18} "
            f"{'peer us':>10} {'peer/plugin':>11} {'peer q (QUOTED ~9/seg)':>22}"
        )
        for lv in p["levels"]:
            pm = lv["peer_model"]
            print(
                f"  {lv['segments']:>8} {lv['db_queries_per_call']:>8g} "
                f"{lv['visitor_segments']['mean_us']:>10} {pm['queries_per_view']:>18g} "
                f"{pm['mean_us']:>10} {lv['peer_over_plugin_time']:>10}x "
                f"{pm['quoted_queries_per_view']:>22}"
            )
        print(
            "  (peer measured = 1 exists() query per segment, a generous model; the quoted column"
            " is the peer's published figure, not measured here)"
        )
    b = r.get("bulk")
    if b:
        g = b["generation"]
        print(
            f"-- 3. bulk recompute: {g['profiles']:,} profiles, {g['counter_rows']:,} counter rows "
            f"(made in {g['profiles_s']} + {g['counters_s']} + analyze {g['analyze_s']} s), "
            f"{len(b['run1_from_empty']['segments'])} segments"
        )
        print(
            f"  {'segment':<22} {'run1 s':>7} {'entered':>8} {'run2 s':>7} {'ent/left':>8} "
            f"{'run3 s':>7} {'entered':>8} {'left':>6} {'size':>8}"
        )
        runs = (b["run1_from_empty"], b["run2_unchanged"], b["run3_after_1pct"])
        for a, s, c in zip(*(x["segments"] for x in runs), strict=True):
            moved = f"{s['entered']}/{s['left']}"
            print(
                f"  {a['slug']:<22} {a['seconds']:>7} {a['entered']!s:>8} {s['seconds']:>7} "
                f"{moved:>8} {c['seconds']:>7} "
                f"{c['entered']!s:>8} {c['left']!s:>6} {c['size']!s:>8}"
            )
        for label, x in zip(
            ("run 1 (from empty)", "run 2 (no change)", "run 3 (1% changed)"), runs, strict=True
        ):
            row(
                f"{label}: total s / profiles scanned/s / rows written",
                f"{x['seconds']} / {x['profiles_scanned_per_s']:,} / "
                f"{x['membership_rows_written']:,}",
            )
        row("profiles changed before run 3", b["changed_profiles"])
        if b.get("verify"):
            row(
                "sizes == COUNT(filter) for every segment",
                f"{b['verify']['ok']} ({b['verify']['seconds']} s)",
            )
    row("problems", r["problems"] or "none")
    row("total run time (s)", r["total_seconds"])
    print(flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=200, help="events of the one visitor")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--count-iterations", type=int, default=200)
    parser.add_argument("--peer-iterations", type=int, default=5000, help="divided by segments")
    parser.add_argument(
        "--segment-counts", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10, 50]
    )
    parser.add_argument("--statement-timeout", type=float, default=300, help="seconds, bulk")
    parser.add_argument("--no-verify", dest="verify", action="store_false")
    parser.add_argument("--skip-bulk", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    database_url = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_segments"
    )
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/6")
    for url in (database_url, redis_url):
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
            parser.error(f"only local services: {url}")
    started = time.perf_counter()
    setup_django(database_url, redis_url)
    problems: list[str] = []
    results: dict = {
        "config": {
            "database": urlsplit(database_url).path.lstrip("/"),
            "cache": "Redis " + redis_url.rsplit("/", 1)[-1],
            "iterations": args.iterations,
            "profiles (bulk)": args.profiles,
            "cpus": os.cpu_count(),
        },
        "problems": problems,
    }
    try:
        results["per_request"] = per_request(args, problems)
        if not args.skip_bulk:
            results["bulk"] = bulk(args, problems)
    finally:
        results["total_seconds"] = round(time.perf_counter() - started, 1)
        print_table(results)
        emit_results(results, args.json)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
