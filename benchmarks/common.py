"""What the benchmark scripts share: logging to stderr and creating their database."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit, urlunsplit


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
