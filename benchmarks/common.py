"""What the benchmark scripts share: logging to stderr and creating their database."""

from __future__ import annotations

import os
import secrets
import sys
from urllib.parse import urlsplit, urlunsplit

# The site refuses to start without DEBUG and a SECRET_KEY: each run makes one up, shared by the
# processes it starts (they inherit the environment).
os.environ.setdefault("SECRET_KEY", "benchmark-run-" + secrets.token_hex(32))


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def ensure_database(database_url: str) -> None:
    """Create the benchmark's own PostgreSQL database if it does not exist yet."""
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
        if not exists:
            log(f"creating database {name}")
            conn.execute(f'create database "{name}"')


def local_services(parser, database: str, redis_db: int) -> tuple[str, str]:
    """DATABASE_URL and REDIS_URL (or the local defaults); benchmarks empty them, so only
    services on this machine are accepted."""
    database_url = os.environ.get("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{database}")
    redis_url = os.environ.get("REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}")
    for url in (database_url, redis_url):
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
            parser.error(f"only local services: {url}")
    return database_url, redis_url


def service_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment of the gunicorn and Celery processes a benchmark starts."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "CACHE_KEY_PREFIX": "bench",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


def load_average() -> str:
    """Other work on the machine shares the cores: recorded so that a reader can judge a run."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def emit_results(results: dict, json_path: str | None) -> None:
    """The machine-readable results: to ``--json`` if given, and as the last line of stdout."""
    import json

    if json_path:
        with open(json_path, "w") as f:
            f.write(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps(results, default=str), flush=True)


def run_wrk(script: str, url: str, *, concurrency: int, duration: float, threads: int = 2) -> dict:
    """Run ``wrk`` with a Lua ``script`` that prints one ``PZJSON {...}`` line in its ``done``
    hook; returns that line's numbers (requests, duration and latencies in microseconds)."""
    import json
    import shutil
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        proc = subprocess.run(
            [
                shutil.which("wrk"),
                f"-t{threads}",
                f"-c{concurrency}",
                f"-d{max(1, round(duration))}s",
                "--timeout",
                "10s",
                "-s",
                handle.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        )
    finally:
        os.unlink(handle.name)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("PZJSON "))
    return json.loads(line[len("PZJSON ") :])
