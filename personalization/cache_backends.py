"""Caches that survive their server going away: reads miss, writes are dropped, and callers
answer from the database (or with defaults) instead of a 500.

``FailSoftRedisCache`` is a drop-in ``CACHES`` backend for the host site: Wagtail (site root
paths), DRF throttles, sessions on the cache and this plugin then all keep serving during a
Redis outage. ``FailSoftCache`` wraps whatever backend the host chose, so the plugin's own hot
path degrades the same way even under Django's plain ``RedisCache``.

Nothing the plugin keeps in the cache is the only copy: snapshots, generations and version
tokens are rebuilt from the database on a miss. Deletes (invalidations) that fail are
remembered and replayed before the first read once the cache answers again, so a server that
comes back with its old data (a network partition, a persisted Redis) does not serve snapshots
older than the outage. One warning is logged when an outage starts and one when it ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

try:  # the Redis backend's errors; other backends fail with OSError
    from redis.exceptions import RedisError as _RedisError
except ImportError:  # pragma: no cover - redis is a dependency, but keep the module importable
    _RedisError = OSError

logger = logging.getLogger(__name__)

CACHE_ERRORS: tuple[type[BaseException], ...] = (_RedisError, OSError)
# After a failure, skip the cache for this long (a dead server is not asked on every call).
RETRY_AFTER_SECONDS = 1.0
# Deletes that failed during an outage, replayed once the cache answers again (bounded).
MAX_PENDING_DELETES = 10_000

_MISSING = object()
_state: dict[str, Any] = {
    "down_until": 0.0,
    "down_since": None,
    "pending": {},
    "replayed": 0,
    "failures": 0,
}


def cache_is_down() -> bool:
    """Whether a recent failure says not to try the cache yet."""
    return time.monotonic() < _state["down_until"]


def cache_in_outage() -> bool:
    """Whether the last call to the cache failed (and none has succeeded since)."""
    return _state["down_since"] is not None


def cache_failed(exc: BaseException) -> None:
    """Note an outage (one log line when it starts) and skip the cache for a moment."""
    if _state["down_since"] is None:
        _state["down_since"] = time.monotonic()
        logger.warning(
            "Cache unavailable (%s: %s): answering from the database until it is back",
            type(exc).__name__,
            exc,
        )
    _state["down_until"] = time.monotonic() + RETRY_AFTER_SECONDS
    _state["failures"] += 1


def _remember(backend: Any, version: int | None, keys: list[str]) -> None:
    pending = _state["pending"]
    if sum(len(p) for p in pending.values()) + len(keys) > MAX_PENDING_DELETES:
        logger.error(
            "More than %d cache invalidations missed during the outage; cached snapshots may "
            "lag the database for up to PERSONALIZATION_SNAPSHOT_TTL_SECONDS",
            MAX_PENDING_DELETES,
        )
        return
    pending.setdefault((backend, version), set()).update(keys)


def _raw_delete_many(backend: Any, keys: list[str], version: int | None) -> None:
    if isinstance(backend, FailSoftRedisCache):
        RedisCache.delete_many(backend, keys, version)  # unguarded: failures must propagate
    else:
        backend.delete_many(keys)


def _replay() -> None:
    """Before the first call after an outage: delete what the outage kept us from deleting."""
    for (backend, version), keys in list(_state["pending"].items()):
        _raw_delete_many(backend, list(keys), version)
        _state["replayed"] += len(keys)
        del _state["pending"][(backend, version)]


def guarded(call: Callable[[], Any], fallback: Any) -> Any:
    """``call()``, or ``fallback`` when the cache is (or was just found) unreachable."""
    if time.monotonic() < _state["down_until"]:
        return fallback
    try:
        if _state["down_since"] is not None:
            _replay()  # before any read: nothing stale is served after an outage
        failures = _state["failures"]
        result = call()
    except CACHE_ERRORS as exc:
        cache_failed(exc)
        return fallback
    if _state["failures"] != failures:
        return result  # a guarded call inside this one failed: still in the outage
    if _state["down_since"] is not None:
        _state["down_since"] = None
        logger.warning(
            "Cache available again (%d missed invalidations replayed)", _state["replayed"]
        )
        _state["replayed"] = 0
    return result


def _guarded_delete(backend: Any, keys: list[str], version: int | None = None) -> None:
    if guarded(lambda: _raw_delete_many(backend, keys, version), _MISSING) is _MISSING:
        _remember(backend, version, keys)


def _guarded_incr(call: Callable[[], int], key: str) -> int:
    value = guarded(call, _MISSING)
    if value is _MISSING:
        raise ValueError(f"Cache unavailable: {key!r}")  # as for a missing key
    return value


def _persistent_client(raw: RedisCacheClient, write: bool) -> Any:
    index = raw._get_connection_pool_index(write)
    clients = raw.__dict__.setdefault("_pz_clients", {})
    client = clients.get(index)
    if client is None:
        client = clients[index] = raw._client(connection_pool=raw._get_connection_pool(write))
    return client


def redis_client(backend: RedisCache, *, write: bool = True) -> Any:
    """A ``redis.Redis`` kept for the life of the backend (one per connection pool).

    Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` on every call, and
    building one (its ~170 response callbacks) costs about as much CPU as the round trip it is
    made for. A client is thread-safe over its pool; Django keeps one backend per thread anyway.
    """
    return _persistent_client(backend._cache, write)


class PersistentRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client, with one ``redis.Redis`` per pool instead of one per call."""

    def get_client(self, key=None, *, write=False):
        return _persistent_client(self, write)


class FailSoftRedisCache(RedisCache):
    """Django's Redis cache that never raises on a lost server (see the module docstring).

    ``CACHES = {"default": {"BACKEND": "personalization.cache_backends.FailSoftRedisCache",
    "LOCATION": ..., "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}``

    It also keeps its ``redis.Redis`` client instead of building one per call
    (``PersistentRedisCacheClient``).
    """

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = PersistentRedisCacheClient

    def get(self, key, default=None, version=None):
        return guarded(lambda: RedisCache.get(self, key, default, version), default)

    def get_many(self, keys, version=None):
        return guarded(lambda: RedisCache.get_many(self, keys, version), {})

    def has_key(self, key, version=None):
        return guarded(lambda: RedisCache.has_key(self, key, version), False)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        guarded(lambda: RedisCache.set(self, key, value, timeout, version), None)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return guarded(lambda: RedisCache.add(self, key, value, timeout, version), False)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return guarded(lambda: RedisCache.touch(self, key, timeout, version), False)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return guarded(lambda: RedisCache.set_many(self, data, timeout, version), list(data))

    def incr(self, key, delta=1, version=None):
        return _guarded_incr(lambda: RedisCache.incr(self, key, delta, version), key)

    def delete(self, key, version=None):
        _guarded_delete(self, [key], version)
        return True

    def delete_many(self, keys, version=None):
        _guarded_delete(self, list(keys), version)

    def clear(self):
        return guarded(lambda: RedisCache.clear(self), None)


class FailSoftCache:
    """Any cache backend, with the plugin's calls guarded the same way."""

    def __init__(self, backend) -> None:
        self.backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def get(self, key, default=None):
        return guarded(lambda: self.backend.get(key, default), default)

    def get_many(self, keys) -> dict:
        return guarded(lambda: self.backend.get_many(keys), {})

    def set(self, key, value, timeout=DEFAULT_TIMEOUT) -> None:
        guarded(lambda: self.backend.set(key, value, timeout), None)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT) -> bool:
        return guarded(lambda: self.backend.add(key, value, timeout), False)

    def incr(self, key, delta=1) -> int:
        return _guarded_incr(lambda: self.backend.incr(key, delta), key)

    def delete(self, key) -> None:
        _guarded_delete(self.backend, [key])

    def delete_many(self, keys) -> None:
        _guarded_delete(self.backend, list(keys))
