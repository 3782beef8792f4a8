#!/usr/bin/env python
"""Ingestion benchmark: events/s through the real API against PostgreSQL + Redis + Celery.

    .venv/bin/python benchmarks/ingest.py --events 20000 --batch 100 --concurrency 8

One run: create/migrate the ``bench`` database, empty the personalization tables and the Redis db,
start gunicorn (``benchmarks.wsgi``, settings ``benchmarks.settings``) and one Celery worker, then

a. baseline: POST the batches to ``/bench/discard`` (DRF parses the body and drops it);
b. real: create visitors via ``POST consent``, POST the same batches to ``events`` round-robin over
   them; events/s and the ratio real/baseline; then wait for the worker to fold everything
   (end-to-end events/s) and check that no count was lost (DB rows, profile ``event_count`` and
   per-type ``counts`` through ``GET profile`` all equal what was accepted);
c. freshness: one event, then ``GET profile`` every ~5 ms until it shows; ms from the 202.

Only 127.0.0.1; every wait is bounded; gunicorn and the worker are always stopped. Prints a table,
and the results as JSON on the last line (and to ``--json PATH``).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import (  # benchmarks/common.py, beside this script
    emit_results,
    ensure_database,
    local_services,
    log,
    service_env,
)

ROOT = Path(__file__).resolve().parent.parent
API = "/api/personalization/v1"
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)  # requests' or urllib's own agent would be ignored as a bot
HOST = "127.0.0.1"


# --------------------------------------------------------------------------- services


def truncate_personalization(database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select tablename from pg_tables where schemaname = 'public' "
                "and tablename like 'personalization\\_%'"
            )
        ]
        if tables:
            conn.execute("truncate " + ", ".join(f'"{t}"' for t in tables) + " cascade")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pgids: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) so far of our process groups, PostgreSQL, Redis and this client.

    Linux only (``/proc``); PostgreSQL and Redis are counted whole (other users of them too).
    """
    totals = dict.fromkeys([*pgids, "postgres", "redis"], 0.0)
    by_pgid = {pgid: name for name, pgid in pgids.items()}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        name = by_pgid.get(int(fields[2]))
        if name is None and comm in ("postgres", "redis-server"):
            name = "postgres" if comm == "postgres" else "redis"
        if name is not None:
            totals[name] += seconds
    own = os.times()
    totals["bench client"] = own.user + own.system
    return totals


class CpuMeter:
    def __init__(self, services: Services):
        self.services = services

    def __enter__(self):
        self.start = cpu_seconds(self.services.pgids())
        return self

    def __exit__(self, *exc):
        end = cpu_seconds(self.services.pgids())
        self.used = {k: round(end[k] - self.start.get(k, 0.0), 2) for k in end}
        return False


class Services:
    """gunicorn + one Celery worker, each in its own process group, logs in a temp dir."""

    def __init__(self, env: dict, args, port: int):
        self.env, self.args, self.port = env, args, port
        self.logdir = Path(tempfile.mkdtemp(prefix="pz-bench-"))
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.worker_name = f"bench-{port}@{socket.gethostname()}"

    def _start(self, name: str, cmd: list[str]) -> None:
        with open(self.logdir / f"{name}.log", "wb") as out:  # the child keeps its own copy
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append((name, proc))

    def start(self) -> None:
        a = self.args
        self._start(
            "gunicorn",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "benchmarks.wsgi:application",
                "--bind",
                f"{HOST}:{self.port}",
                "--workers",
                str(a.workers),
                "--worker-class",
                a.worker_class,
                "--threads",
                str(a.threads),
                "--keep-alive",
                "10",
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
                "--log-level",
                "warning",
            ],
        )
        self._start(
            "celery",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "cms_site",
                "worker",
                "-Q",
                "default,events,segments,training",
                "-c",
                str(a.celery_concurrency),
                "--loglevel=warning",
                "-n",
                self.worker_name,
                "--without-gossip",
                "--without-mingle",
            ],
        )

    def pgids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs}  # each leads its own group

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode}; see {self.logdir}/{name}.log"
                )

    def wait_ready(self, redis_url: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        client = Client(self.port, timeout=5)
        while True:  # gunicorn: the discard view answers GET with 405 once Django is loaded
            self.check_alive()
            try:
                if client.request("GET", "/bench/discard")[0] == 405:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("gunicorn not ready")
            time.sleep(0.2)
        from celery import Celery

        ping = Celery(broker=redis_url)
        try:
            while not ping.control.ping(destination=[self.worker_name], timeout=0.5):
                self.check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError("celery worker not ready")
        finally:
            ping.close()

    def stop(self) -> None:
        """SIGTERM to the gunicorn master and the Celery main process: both shut down warm
        (finishing running requests and tasks); whatever is left after 20 s is killed."""
        for _name, proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for _name, proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log(f"killing {_name} (pid {proc.pid}) and its process group")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers of our own group only
            proc.wait(timeout=5)

    def problems(self) -> dict[str, list[str]]:
        """Tracebacks and error lines from the logs, for the report."""
        found = {}
        for name, _proc in self.procs:
            text = (self.logdir / f"{name}.log").read_text(errors="replace")
            lines = [
                line
                for line in text.splitlines()
                if any(m in line for m in ("Traceback", "Error", "ERROR", "CRITICAL", "exception"))
            ]
            if lines:
                found[name] = lines
        return found


# --------------------------------------------------------------------------- HTTP


class Client:
    """One keep-alive connection; reconnects (and re-sends once) if the server dropped it."""

    def __init__(self, port: int, timeout: float = 30):
        self.port, self.timeout, self.conn = port, timeout, None

    def request(self, method: str, path: str, body: bytes | None = None, headers=None):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return response.status, data
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
                http.client.CannotSendRequest,
                http.client.ResponseNotReady,
            ):
                self.close()
                if attempt == 2:
                    raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def headers_for(token: str | None = None, content_type: str = "application/json") -> dict:
    h = {
        "Content-Type": content_type,
        "User-Agent": USER_AGENT,
        "Accept-Language": "en-GB,en;q=0.9",
    }
    if token:
        h["X-Visitor-Id"] = token
    return h


def run_requests(port: int, jobs: list[tuple], concurrency: int, timeout: float = 60):
    """POST every (path, body, headers) with ``concurrency`` threads; returns (seconds, results)."""
    local = threading.local()
    clients: list[Client] = []
    lock = threading.Lock()

    def one(job):
        path, body, headers = job
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = Client(port, timeout)
            with lock:
                clients.append(client)
        start = time.perf_counter()
        try:
            status, data = client.request("POST", path, body, headers)
        except Exception as exc:  # timeouts, refused: counted, never fatal
            return {"status": 0, "error": repr(exc), "ms": (time.perf_counter() - start) * 1000}
        result = {"status": status, "ms": (time.perf_counter() - start) * 1000}
        try:
            result["body"] = json.loads(data)
        except ValueError:
            result["body"] = data[:2000].decode(errors="replace")
        return result

    with ThreadPoolExecutor(concurrency) as pool:
        start = time.perf_counter()
        results = list(pool.map(one, jobs))
        elapsed = time.perf_counter() - start
    for client in clients:
        client.close()
    return elapsed, results


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


# --------------------------------------------------------------------------- workload

TAGS = [
    "sport",
    "running",
    "outdoor",
    "travel",
    "food",
    "tech",
    "fashion",
    "kids",
    "garden",
    "music",
]
CATEGORIES = ["news", "shop", "blog", "guides", "offers"]
PAGE_TYPES = ["home.homepage", "blog.blogpage", "shop.productpage", "shop.categorypage"]


def make_event(rng: random.Random, run: str, n: int, when: datetime, pages: list[int]) -> dict:
    kind = rng.choices(
        ["page_view", "click", "content_view", "search", "add_to_cart", "purchase"],
        weights=[60, 18, 10, 5, 4, 3],
    )[0]
    page_id = rng.choice(pages)
    if kind == "page_view":
        props = {
            "page_id": page_id,
            "page_type": PAGE_TYPES[page_id % len(PAGE_TYPES)],
            "url": f"https://shop.example/p/{page_id}/",
            "title": f"Page {page_id}",
            "tags": rng.sample(TAGS, rng.randint(0, 3)),
            "category": CATEGORIES[page_id % len(CATEGORIES)],
        }
    elif kind == "click":
        props = {"category": rng.choice(["cta", "nav", "banner"]), "tags": rng.sample(TAGS, 1)}
    elif kind == "content_view":
        props = {"tags": rng.sample(TAGS, 2), "page_id": page_id}
    elif kind == "search":
        props = {"query": rng.choice(["shoes", "tent", "recipes", "laptop bag"])}
    elif kind == "add_to_cart":
        props = {"value": round(rng.uniform(5, 200), 2), "sku": f"SKU-{page_id}", "currency": "EUR"}
    else:
        props = {
            "value": round(rng.uniform(10, 500), 2),
            "currency": "EUR",
            "order_id": f"o-{run}-{n}",
            "tags": rng.sample(TAGS, 1),
        }
    timestamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"type": kind, "id": f"{run}-{n}", "timestamp": timestamp, "properties": props}


def make_batches(total: int, size: int, run: str, seed: int):
    """JSON bodies of ``size`` events; each batch is one session: within 20 minutes, sometime in
    the last 6 hours, on ~15 pages of a 400-page site. Returns (bodies, events sent per type)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    batches, types = [], Counter()
    for start in range(0, total, size):
        session = now - timedelta(seconds=rng.randint(1200, 6 * 3600))
        offsets = sorted(rng.uniform(0, 1200) for _ in range(start, min(total, start + size)))
        pages = rng.sample(range(3, 400), 15)
        events = [
            make_event(rng, run, start + i, session + timedelta(seconds=offset), pages)
            for i, offset in enumerate(offsets)
        ]
        types.update(e["type"] for e in events)
        body = {
            "events": events,
            "context": {
                "url": f"https://shop.example/p/{pages[0]}/?utm_source=bench",
                "referrer": "",
            },
        }
        batches.append(json.dumps(body, separators=(",", ":")).encode())
    return batches, types


# --------------------------------------------------------------------------- phases


def summarize(label: str, elapsed: float, results: list[dict], events: int) -> dict:
    statuses = Counter(r["status"] for r in results)
    ok = [r for r in results if r["status"] == 202]
    failures = [r for r in results if r["status"] != 202]
    lat = [r["ms"] for r in results]
    out = {
        "requests": len(results),
        "events": events,
        "seconds": round(elapsed, 3),
        "events_per_s": round(events / elapsed, 1) if elapsed else None,
        "requests_per_s": round(len(results) / elapsed, 1) if elapsed else None,
        "latency_ms_p50": round(pct(lat, 50), 1),
        "latency_ms_p95": round(pct(lat, 95), 1),
        "latency_ms_max": round(max(lat), 1) if lat else None,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "ok_requests": len(ok),
    }
    if failures:
        out["sample_failures"] = [
            {k: r.get(k) for k in ("status", "error", "body")} for r in failures[:3]
        ]
        log(f"!! {label}: {len(failures)} failed requests, e.g. {out['sample_failures'][0]}")
    return out


def create_visitors(port: int, n: int, concurrency: int) -> tuple[list[str], float]:
    body = json.dumps({"purposes": {"analytics": True, "personalization": True}}).encode()
    jobs = [(f"{API}/consent", body, headers_for())] * n
    elapsed, results = run_requests(port, jobs, concurrency)
    tokens = [r["body"]["visitor_token"] for r in results if r["status"] == 200]
    if len(tokens) != n:
        bad = next(r for r in results if r["status"] != 200)
        raise RuntimeError(f"consent failed: {bad}")
    return tokens, elapsed


class Database:
    """One autocommit connection for polling and checks."""

    def __init__(self, url: str):
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10)

    def value(self, sql: str, params=None):
        return self.conn.execute(sql, params).fetchone()[0]

    def unfolded(self) -> int:
        return self.value("select count(*) from personalization_event where not folded")

    def close(self) -> None:
        self.conn.close()


def wait_drained(db: Database, services: Services, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.unfolded() == 0:
            return time.perf_counter()
        services.check_alive()
        time.sleep(0.05)
    return None


def db_totals(db: Database) -> dict:
    return {
        "event_rows": db.value("select count(*) from personalization_event"),
        "unfolded_rows": db.unfolded(),
        "profile_event_count_sum": db.value(
            "select coalesce(sum(event_count), 0) from personalization_visitorprofile"
        ),
        "profiles": db.value("select count(*) from personalization_visitorprofile"),
    }


def api_profiles(port: int, tokens: list[str], concurrency: int) -> list[dict]:
    local = threading.local()

    def get(token):
        client = getattr(local, "client", None) or Client(port)
        local.client = client
        status, data = client.request("GET", f"{API}/profile", headers=headers_for(token))
        if status != 200:
            raise RuntimeError(f"GET profile: {status} {data[:500]!r}")
        return json.loads(data)

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(get, tokens))


def freshness(port: int, tokens: list[str], counts: dict[str, int], trials: int, timeout: float):
    client = Client(port, timeout=10)
    samples, timeouts, polls, failures = [], 0, [], []
    run = uuid.uuid4().hex[:8]
    for k in range(trials):
        token = tokens[k % len(tokens)]
        before = counts[token]
        body = json.dumps(
            {"events": [{"type": "click", "id": f"f{run}-{k}", "properties": {"category": "cta"}}]}
        ).encode()
        status, data = client.request("POST", f"{API}/events", body, headers_for(token))
        t0 = time.perf_counter()
        if status != 202 or json.loads(data).get("accepted") != 1:
            failures.append({"status": status, "body": data[:500].decode(errors="replace")})
            continue
        counts[token] = before + 1
        n, deadline, seen = 0, t0 + timeout, None
        while time.perf_counter() < deadline:
            n += 1
            status, data = client.request("GET", f"{API}/profile", headers=headers_for(token))
            if status == 200 and json.loads(data)["event_count"] > before:
                seen = time.perf_counter()
                break
            time.sleep(0.005)
        polls.append(n)
        if seen is None:
            timeouts += 1
        else:
            samples.append((seen - t0) * 1000)
    client.close()
    return {
        "trials": trials,
        "p50_ms": round(pct(samples, 50), 1),
        "p95_ms": round(pct(samples, 95), 1),
        "max_ms": round(max(samples), 1) if samples else None,
        "mean_ms": round(statistics.fmean(samples), 1) if samples else None,
        "timeouts": timeouts,
        "failed_posts": len(failures),
        "sample_failures": failures[:3],
        "mean_polls": round(statistics.fmean(polls), 1) if polls else None,
    }


def check_counts(port, tokens, concurrency, accepted, sent_types, db: Database):
    profiles = api_profiles(port, tokens, concurrency)
    api_sum = sum(p["event_count"] for p in profiles)
    type_sums = Counter()
    for p in profiles:
        for key, n in p["counts"].items():
            event_type, dimension = key.split("|", 1)
            if dimension == "":
                type_sums[event_type] += n
    totals = db_totals(db)
    checks = {
        "accepted": accepted,
        "api_event_count_sum": api_sum,
        **totals,
        "per_type_ok": dict(type_sums) == dict(sent_types),
    }
    if dict(type_sums) != dict(sent_types):
        checks["per_type_sent"] = dict(sent_types)
        checks["per_type_counted"] = dict(type_sums)
    checks["ok"] = (
        api_sum == accepted == totals["event_rows"] == totals["profile_event_count_sum"]
        and totals["unfolded_rows"] == 0
        and checks["per_type_ok"]
    )
    return checks, {p["visitor_id"]: p["event_count"] for p in profiles}, profiles


# --------------------------------------------------------------------------- main


def concurrent_retries(port: int, tokens: list[str], copies: int, run: str) -> tuple[dict, int]:
    """Each visitor's batch sent ``copies`` times at once, as a client retrying while the first
    attempt is still in flight would. Returns the answers' totals and the unique events sent."""
    jobs, unique = [], 0
    for v, token in enumerate(tokens):
        events = [
            {"type": "click", "id": f"r{run}-{v}-{i}", "properties": {"category": "retry"}}
            for i in range(10)
        ]
        unique += len(events)
        body = json.dumps({"events": events}).encode()
        jobs += [(f"{API}/events", body, headers_for(token))] * copies
    _elapsed, res = run_requests(port, jobs, copies)
    ok = [r for r in res if r["status"] == 202]
    return {
        "visitors": len(tokens),
        "copies": copies,
        "unique_events": unique,
        "statuses": dict(Counter(str(r["status"]) for r in res)),
        "accepted_reported": sum(r["body"]["accepted"] for r in ok),
        "duplicates_reported": sum(r["body"]["duplicates"] for r in ok),
    }, unique


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--trials", type=int, default=200, help="freshness trials")
    parser.add_argument(
        "--baseline-rounds",
        type=int,
        default=5,
        help="times the batches are sent to /bench/discard (it is fast: steadier numbers)",
    )
    parser.add_argument(
        "--retry-visitors",
        type=int,
        default=20,
        help="visitors in the concurrent-retry check (0 to skip)",
    )
    parser.add_argument("--retry-copies", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--drain-timeout", type=float, default=120)
    parser.add_argument("--freshness-timeout", type=float, default=5)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    database_url, redis_url = local_services(parser, "bench", 5)
    env = service_env(database_url, redis_url)
    started = time.perf_counter()

    ensure_database(database_url)
    log("migrating ...")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )
    truncate_personalization(database_url)
    import redis

    redis.Redis.from_url(redis_url, socket_timeout=5).flushdb()

    run = uuid.uuid4().hex[:8]
    batches, sent_types = make_batches(args.events, args.batch, run, args.seed)
    services = Services(env, args, free_port())
    db = Database(database_url)
    results: dict = {
        "config": {
            "events": args.events,
            "batch": args.batch,
            "client threads": args.concurrency,
            "visitors": args.visitors,
            "gunicorn": f"{args.workers} workers x {args.threads} threads ({args.worker_class})",
            "celery": f"1 worker, -c {args.celery_concurrency} (prefork)",
            "cpus": os.cpu_count(),
        }
    }
    problems: dict = {}
    try:
        services.start()
        services.wait_ready(redis_url)
        log(f"services ready on port {services.port} (logs in {services.logdir})")
        port = services.port

        # warm every worker thread's Django, DB and cache connections
        run_requests(port, [("/bench/discard", batches[0], headers_for())] * 40, args.concurrency)

        # (a) baseline: the same bodies, parsed and dropped
        jobs = [("/bench/discard", b, headers_for()) for b in batches] * args.baseline_rounds
        with CpuMeter(services) as cpu:
            elapsed, res = run_requests(port, jobs, args.concurrency)
        done = sum(r["body"]["accepted"] for r in res if r["status"] == 202)
        results["baseline"] = {**summarize("baseline", elapsed, res, done), "cpu_s": cpu.used}

        # (b) real: consented visitors, the batches round-robin over them
        tokens, consent_s = create_visitors(port, args.visitors, args.concurrency)
        results["consent"] = {"visitors": len(tokens), "per_s": round(len(tokens) / consent_s, 1)}
        jobs = [
            (f"{API}/events", b, headers_for(tokens[i % len(tokens)]))
            for i, b in enumerate(batches)
        ]
        with CpuMeter(services) as cpu_ingest:
            t_real = time.perf_counter()
            elapsed, res = run_requests(port, jobs, args.concurrency)
            backlog = db.unfolded()
        accepted = sum(r["body"]["accepted"] for r in res if r["status"] == 202)
        real = summarize("real", elapsed, res, accepted)
        for key in ("duplicates", "rejected", "ignored"):
            real[key] = sum(r["body"].get(key, 0) for r in res if r["status"] == 202)
        reasons = {r["body"].get("ignored_reason") for r in res if r["status"] == 202} - {"", None}
        if reasons:
            real["ignored_reasons"] = sorted(reasons)
        real["cpu_s"] = cpu_ingest.used
        results["real"] = real
        results["ratio_real_over_baseline"] = round(
            real["events_per_s"] / results["baseline"]["events_per_s"], 4
        )
        with CpuMeter(services) as cpu_drain:
            drained = wait_drained(db, services, args.drain_timeout)
        results["end_to_end"] = {
            "unfolded_when_ingest_done": backlog,
            "drained": drained is not None,
            "seconds": round(drained - t_real, 3) if drained else None,
            "drain_after_ingest_s": round(drained - t_real - elapsed, 3) if drained else None,
            "folded_events_per_s": round(accepted / (drained - t_real), 1) if drained else None,
            "cpu_s_ingest_plus_drain": {
                k: round(cpu_ingest.used[k] + cpu_drain.used[k], 2) for k in cpu_ingest.used
            },
        }
        time.sleep(0.2)  # the snapshot refresh runs on the fold's commit
        checks, counts, _ = check_counts(port, tokens, args.concurrency, accepted, sent_types, db)
        results["counts_check"] = checks
        if not checks["ok"]:
            log(f"!! lost or extra counts: {checks}")

        # (c) freshness: 202 -> GET profile shows the event
        by_token = {t: counts[str(parse_token(t))] for t in tokens}
        results["freshness"] = freshness(
            port, tokens, by_token, args.trials, args.freshness_timeout
        )
        wait_drained(db, services, 30)
        time.sleep(0.2)
        fresh_ok = args.trials - results["freshness"]["failed_posts"]
        accepted += fresh_ok
        sent_types = sent_types + Counter(click=fresh_ok)
        final, counts, _ = check_counts(port, tokens, args.concurrency, accepted, sent_types, db)
        results["counts_check_after_freshness"] = {
            "ok": final["ok"],
            **({} if final["ok"] else final),
        }

        # (d) the same batch sent several times at once (a retry racing the first attempt)
        if args.retry_visitors:
            subset = tokens[: args.retry_visitors]
            retry, unique = concurrent_retries(port, subset, args.retry_copies, run)
            wait_drained(db, services, 30)
            time.sleep(0.2)
            after = {
                p["visitor_id"]: p["event_count"]
                for p in api_profiles(port, subset, args.concurrency)
            }
            retry["stored_rows"] = db.value(
                "select count(*) from personalization_event where key like %s", [f"c:r{run}-%"]
            )
            retry["counted_in_profiles"] = sum(after[v] - counts[v] for v in after)
            retry["counts_ok"] = retry["stored_rows"] == retry["counted_in_profiles"] == unique
            retry["answers_ok"] = retry["accepted_reported"] == unique and retry[
                "duplicates_reported"
            ] == unique * (args.retry_copies - 1)
            results["concurrent_retries"] = retry
    finally:
        services.stop()
        db.close()
        problems = services.problems()
        if problems:
            results["server_log_problems"] = {k: v[:20] for k, v in problems.items()}
        results["logs"] = str(services.logdir)
        results["total_seconds"] = round(time.perf_counter() - started, 1)
        print_table(results)
        emit_results(results, args.json)
    ok = (
        results.get("counts_check", {}).get("ok")
        and results.get("counts_check_after_freshness", {}).get("ok")
        and results.get("concurrent_retries", {}).get("counts_ok", True)
    )
    return 0 if ok and not problems else 1


def parse_token(token: str) -> uuid.UUID:
    """The visitor id inside a signed token (``<hex>:<signature>``), to match profile answers."""
    return uuid.UUID(hex=token.split(":", 1)[0])


def print_table(r: dict) -> None:
    def row(label, value):
        print(f"  {label:<46} {value}")

    def cpu(used: dict, events: int):
        parts = ", ".join(f"{k} {v:.2f}" for k, v in used.items())
        row("CPU seconds", parts)
        if events:
            per = {k: round(v / events * 1e6) for k, v in used.items()}
            row("CPU us per event", ", ".join(f"{k} {v}" for k, v in per.items()))

    print("\n=== personalization ingestion benchmark ===")
    for k, v in r.get("config", {}).items():
        row(k, v)
    for phase, title in (
        ("baseline", "baseline: POST /bench/discard"),
        ("real", "real: POST events"),
    ):
        p = r.get(phase)
        if not p:
            continue
        print(f"-- {title}")
        row("events/s", p["events_per_s"])
        row("requests/s", p["requests_per_s"])
        row(
            "request ms p50 / p95 / max",
            f"{p['latency_ms_p50']} / {p['latency_ms_p95']} / {p['latency_ms_max']}",
        )
        row("HTTP statuses", p["statuses"])
        if phase == "real":
            row(
                "accepted / duplicates / rejected / ignored",
                f"{p['events']} / {p['duplicates']} / {p['rejected']} / {p['ignored']}",
            )
        cpu(p["cpu_s"], p["events"])
    if "consent" in r:
        row(
            "visitors created via POST consent (per s)",
            f"{r['consent']['visitors']} ({r['consent']['per_s']}/s)",
        )
    if "ratio_real_over_baseline" in r:
        row("RATIO real / baseline events/s", r["ratio_real_over_baseline"])
    e = r.get("end_to_end")
    if e:
        print("-- end to end (ingest + Celery folding until no unfolded rows)")
        row("unfolded events when the last 202 came", e["unfolded_when_ingest_done"])
        row("drain after the last 202 (s)", e["drain_after_ingest_s"])
        row("folded events/s (first POST -> drained)", e["folded_events_per_s"])
        cpu(e["cpu_s_ingest_plus_drain"], r["real"]["events"])
    c = r.get("counts_check")
    if c:
        print("-- counts check after draining")
        row(
            "accepted / DB rows / sum event_count DB / API",
            f"{c['accepted']} / {c['event_rows']} / "
            f"{c['profile_event_count_sum']} / {c['api_event_count_sum']}",
        )
        row("per-type counts (API) match what was sent", c["per_type_ok"])
        row("OK", c["ok"])
        if "counts_check_after_freshness" in r:
            row("OK after the freshness trials", r["counts_check_after_freshness"]["ok"])
    f = r.get("freshness")
    if f:
        print("-- freshness: 202 -> GET profile shows the event (polled every ~5 ms)")
        row("trials", f["trials"])
        row("p50 / p95 / max ms", f"{f['p50_ms']} / {f['p95_ms']} / {f['max_ms']}")
        row("timeouts / failed posts", f"{f['timeouts']} / {f['failed_posts']}")
    d = r.get("concurrent_retries")
    if d:
        print(f"-- same batch sent {d['copies']}x at once ({d['visitors']} visitors x 10 events)")
        row(
            "unique events / stored rows / counted",
            f"{d['unique_events']} / {d['stored_rows']} / {d['counted_in_profiles']}",
        )
        row(
            "answers: accepted / duplicates",
            f"{d['accepted_reported']} / {d['duplicates_reported']}"
            f" (exact: {d['unique_events']} / {d['unique_events'] * (d['copies'] - 1)})",
        )
        row("counts OK / answers OK", f"{d['counts_ok']} / {d['answers_ok']}")
    if r.get("server_log_problems"):
        print("-- PROBLEMS in server logs (" + r["logs"] + ")")
        for name, lines in r["server_log_problems"].items():
            for line in lines[:10]:
                print(f"  [{name}] {line}")
    row("total run time (s)", r.get("total_seconds"))
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
