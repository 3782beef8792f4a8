"""A redis-server process of a test's own, on a free port (never the shared one)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
import redis

REDIS_SERVER = shutil.which("redis-server") or "redis-server"
needs_redis_server = pytest.mark.skipif(
    not shutil.which("redis-server"), reason="needs redis-server"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A redis-server process of this test's own; it keeps its data across a stop and start
    (as a persisted Redis, or one behind a network partition, would)."""

    def __init__(self, directory) -> None:
        self.port = free_port()
        self.dir = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own arguments
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--dbfilename",
                "dump.rdb",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail("redis-server did not start")

    def stop(self) -> None:
        self.client().shutdown(save=True)  # writes dump.rdb, which start() loads again
        self.process.wait(timeout=10)
        self.process = None

    def llen(self, key: str) -> int:
        return self.client().llen(key)


def use_own_redis_cache(settings, server: OwnRedis, prefix: str) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "personalization.cache_backends.FailSoftRedisCache",
            "LOCATION": server.url,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
