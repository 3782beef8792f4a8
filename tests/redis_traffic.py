"""Counting what a test's thread asks of Redis (the one-round-trip rules of decide and
recommendations)."""

from __future__ import annotations

import threading
from contextlib import contextmanager


@contextmanager
def redis_traffic():
    """What this thread asks of Redis: round trips (one packed send each: a command, a
    pipeline or a script) and ``redis.Redis`` clients built. Other threads are not counted."""
    import redis
    from redis.connection import AbstractConnection

    me = threading.get_ident()
    seen = {"round_trips": 0, "clients_built": 0}
    depth = [0]
    send, build = AbstractConnection.send_packed_command, redis.Redis.__init__

    def counted_send(self, *args, **kwargs):
        if threading.get_ident() == me and not depth[0]:
            seen["round_trips"] += 1
        depth[0] += 1
        try:
            return send(self, *args, **kwargs)
        finally:
            depth[0] -= 1

    def counted_build(self, *args, **kwargs):
        if threading.get_ident() == me:
            seen["clients_built"] += 1
        return build(self, *args, **kwargs)

    AbstractConnection.send_packed_command = counted_send
    redis.Redis.__init__ = counted_build
    try:
        yield seen
    finally:
        AbstractConnection.send_packed_command = send
        redis.Redis.__init__ = build
