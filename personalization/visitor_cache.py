"""Cache keys for per-visitor data, and the generation counter that keeps them honest.

Every write that changes what a visitor's snapshot would contain bumps the visitor's generation.
A reader fetches the snapshot and the generation in one round trip (``get_many``) and rebuilds
when they differ, so a snapshot built from a read that raced with a write is never served for long.
"""

from __future__ import annotations

import atexit
import contextvars
import json
import logging
import os
import threading
import time
import uuid

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction

from .cache_backends import (
    CACHE_ERRORS,
    FailSoftCache,
    cache_failed,
    cache_in_outage,
    cache_is_down,
    guarded,
    redis_client,
)
from .conf import get_setting

__all__ = ["CACHE_ERRORS", "cache", "cache_failed", "cache_in_outage", "cache_is_down"]


def cache() -> FailSoftCache:
    return FailSoftCache(caches[get_setting("SNAPSHOT_CACHE_ALIAS")])


def snapshot_key(visitor_id: uuid.UUID | str) -> str:
    return f"personalization:snapshot:{visitor_id}"


def generation_key(visitor_id: uuid.UUID | str) -> str:
    return f"personalization:gen:{visitor_id}"


def user_key(user_pk: object) -> str:
    return f"personalization:user:{user_pk}"


def throttle_key(visitor_id: uuid.UUID | str) -> str:
    """The visitor's rate-limit counter (kept by DRF in the default cache)."""
    return f"personalization:throttle:visitor:{visitor_id}"


def visitor_keys(visitor_id: uuid.UUID | str) -> list[str]:
    """Every cache key named after a visitor id, for erasure to delete."""
    return [snapshot_key(visitor_id), generation_key(visitor_id), throttle_key(visitor_id)]


def forget_visitor_keys(visitor_ids, user_pks=()) -> None:
    """Delete every per-visitor key (snapshot, generation, throttle, user lookup) now and again
    once the surrounding transaction commits, so no reader in between can leave one behind."""
    keys = [key for vid in visitor_ids for key in visitor_keys(vid)]
    keys += [user_key(pk) for pk in user_pks]

    def delete() -> None:
        stores = {id(store): store for store in (cache(), caches["default"])}
        for store in stores.values():
            store.delete_many(keys)

    delete()
    transaction.on_commit(delete)


def bump_generation(visitor_id: uuid.UUID | str) -> int:
    """Mark every cached snapshot of this visitor stale; returns the new generation."""
    store = cache()
    key = generation_key(visitor_id)
    ttl = get_setting("SNAPSHOT_TTL_SECONDS") * 2
    generation = 1
    if not store.add(key, 1, ttl):
        try:
            generation = store.incr(key)
        except ValueError:  # expired between add and incr
            store.set(key, 1, ttl)
    store.delete(snapshot_key(visitor_id))
    return generation


def invalidate_visitor(visitor_id: uuid.UUID | str) -> None:
    """Invalidate now and again once the surrounding transaction commits.

    The first bump serves reads inside this transaction; the second defeats a reader that rebuilt
    the snapshot from the database between our write and our commit.
    """
    bump_generation(visitor_id)
    transaction.on_commit(lambda: bump_generation(visitor_id))


def version_tokens(*keys: str, found: dict | None = None) -> list[str]:
    """Current tokens of version keys, in one round trip when they exist (none when the caller
    passes the ``found`` result of a ``get_many`` that included them).

    A missing key (first start, eviction, a cache flush) gets a fresh random token, so that a
    process holding definitions compiled under an older token can never mistake them for current.
    """
    store = cache()
    if found is None:
        found = store.get_many(keys)
    tokens = []
    for key in keys:
        token = found.get(key)
        if token is None:
            store.add(key, uuid.uuid4().hex, None)
            token = store.get(key) or "0"
        tokens.append(token)
    return tokens


def bump_version_token(key: str) -> None:
    """Give a version key a new random token now, and again once the transaction commits (a
    reader between our write and the commit must not keep the old definitions).

    A random token rather than a counter: after a cache flush a counter would restart and could
    meet a number a process still holds.
    """
    cache().set(key, uuid.uuid4().hex, None)
    transaction.on_commit(lambda: cache().set(key, uuid.uuid4().hex, None))


# -- write buffers: rows the hot path defers (impressions, exposures) -------------------------


def _redis_backend():
    from django.core.cache.backends.redis import RedisCache

    store = cache().backend
    return store if isinstance(store, RedisCache) and not cache_is_down() else None


def redis_list(name: str):
    """(Redis client, full key) of a buffer list when the cache is Django's Redis backend and up,
    else None (then callers write directly)."""
    store = _redis_backend()
    if store is None:
        return None
    return redis_client(store), store.make_and_validate_key(name)


def redis_keys(names: list[str]):
    """(Redis client, full keys) for commands Django's cache API lacks (pipelines, hashes) when
    the cache is Django's Redis backend and up, else None."""
    store = _redis_backend()
    if store is None:
        return None
    return redis_client(store), [store.make_and_validate_key(name) for name in names]


def redis_list_key(name: str) -> str | None:
    """The full key of a buffer list without making a client (None without Redis)."""
    store = _redis_backend()
    return store.make_and_validate_key(name) if store is not None else None


def push_rows(name: str, rows: list[dict], fallback=None) -> bool:
    """Append rows to a buffer list, without a round trip of their own: they ride on this
    thread's next hot-path read (``read_many``), or an idle process pushes them within
    ``DEFER_SECONDS``; ``drain_list`` pushes the process's waiting rows before draining.

    False when there is no buffer (no Redis, or Redis is down): the caller then writes the rows
    directly (the durable path). If the push of waiting rows fails, they are handed to
    ``fallback(rows)`` (the same durable path), in the thread that found Redis gone. A process
    killed with rows waiting loses them, as a Redis restart without persistence loses the
    unflushed buffer (docs/faults.md).
    """
    if cache_in_outage():
        return False  # the last call failed: write directly until one succeeds
    target = redis_list(name)
    if target is None:
        return False
    client, key = target
    _defer(client, [(key, json.dumps(rows, separators=(",", ":")), rows, fallback)])
    return True


# -- deferred pushes: the hot path's writes share its one read round trip --------------------

DEFER_SECONDS = 0.2  # how long rows may wait in an idle process before a thread pushes them
# Rows waiting per client (one client per thread's backend):
# id -> [client, [(key, chunk, rows, fallback)], since]
_waiting: dict[int, list] = {}
_waiting_lock = threading.Lock()
_pusher_pid: list[int | None] = [None]

# Appends the waiting chunks (KEYS[1..n], ARGV[3..n+2]; n = ARGV[1]), adds one to the m window
# counters (KEYS[n+1..n+m]; per counter, ARGV after the chunks: current window, previous, the
# one before it to drop, TTL), then reads the other keys (if any): the counters' (current,
# previous) pairs first, then the values.
_PUSH_AND_READ = """
local n, m = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, n do
    redis.call('RPUSH', KEYS[i], ARGV[i + 2])
end
local out = {}
for j = 1, m do
    local key, a = KEYS[n + j], n + 2 + 4 * (j - 1)
    out[#out + 1] = redis.call('HINCRBY', key, ARGV[a + 1], 1)
    out[#out + 1] = redis.call('HGET', key, ARGV[a + 2])
    redis.call('HDEL', key, ARGV[a + 3])
    redis.call('EXPIRE', key, ARGV[a + 4])
end
if #KEYS > n + m then
    local values = redis.call('MGET', unpack(KEYS, n + m + 1))
    for k = 1, #values do
        out[#out + 1] = values[k]
    end
end
return out
"""


# -- window counters that ride on the next read -------------------------------------------

# A rate limiter's counters for this request, added in the round trip of its hot read (the
# request's context only): {"keys": full keys, "args": fields and TTLs, "pairs": None until
# the read carried them, then [(current, previous)]}.
_counters: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "personalization_counters", default=None
)


def _counter_state(names: list[str], windows: list[int], ttls: list[int]) -> dict | None:
    target = redis_keys(names)
    if target is None:
        return None
    args = []
    for window, ttl in zip(windows, ttls, strict=True):
        args += [window, window - 1, window - 2, ttl]
    return {"keys": target[1], "args": args, "pairs": None}


def count_on_next_read(names: list[str], windows: list[int], ttls: list[int]) -> bool:
    """Have this request's next ``read_many`` add one to each counter's current window (a hash
    field per window, the one before last dropped) in its own round trip. False without Redis:
    the caller then counts on its own."""
    state = _counter_state(names, windows, ttls)
    if state is None:
        return False
    _counters.set(state)
    return True


def count_now(names: list[str], windows: list[int], ttls: list[int]) -> list | None:
    """The same counters, added now in a round trip of their own (which also carries this
    thread's waiting rows): the (current, previous) counts, or None without Redis. Raises the
    cache's errors, as a plain Redis call would."""
    state = _counter_state(names, windows, ttls)
    if state is None:
        return None
    _push_and_read(cache().backend, [], state)
    return state["pairs"]


def counted_on_read() -> list[tuple[int, int]] | None:
    """The (current, previous) count of each counter, once a read carried them; else None."""
    pending = _counters.get()
    return pending["pairs"] if pending is not None else None


def forget_counters() -> bool:
    """End of the request: drop its counters; True if no read carried them (the caller then
    counts on its own, so that a request that failed before reading still counts)."""
    pending = _counters.get()
    _counters.set(None)
    return pending is not None and pending["pairs"] is None


def _defer(client, items: list[tuple]) -> None:
    with _waiting_lock:
        entry = _waiting.get(id(client))
        if entry is None:
            _waiting[id(client)] = [client, list(items), time.monotonic()]
        else:
            entry[1].extend(items)
    if _pusher_pid[0] != os.getpid():
        _start_pusher()


def _not_pushed(items: list[tuple]) -> None:
    """Rows whose push failed: to their durable path (dropped, with a warning, without one)."""
    logger = logging.getLogger(__name__)
    for _key, _chunk, rows, fallback in items:
        if fallback is None:
            logger.warning("Redis unavailable: %d buffered rows dropped", len(rows))
            continue
        try:
            fallback(rows)
        except Exception:
            logger.exception("Writing %d rows Redis did not take failed", len(rows))


def _take(client) -> list[tuple]:
    with _waiting_lock:
        entry = _waiting.pop(id(client), None)
    return entry[1] if entry else []


def _start_pusher() -> None:
    """One daemon thread per process (started again after a fork) pushes rows that waited
    ``DEFER_SECONDS`` (a process with no further requests); and whatever waits at exit."""
    with _waiting_lock:
        if _pusher_pid[0] == os.getpid():
            return
        _pusher_pid[0] = os.getpid()

    def loop() -> None:
        from django.db import connections

        while True:
            time.sleep(DEFER_SECONDS)
            try:
                push_waiting(older_than=DEFER_SECONDS)
            except Exception:  # never let the thread die; the next tick retries
                logging.getLogger(__name__).exception("Pushing deferred buffer rows failed")
            finally:
                connections.close_all()  # this thread's, if a fallback wrote rows

    threading.Thread(target=loop, name="personalization-buffer-push", daemon=True).start()
    atexit.register(push_waiting)


def push_waiting(*, older_than: float = 0.0) -> int:
    """Push this process's waiting rows now, one round trip per client; returns the chunks
    pushed. Rows whose push fails wait for the next try."""
    now = time.monotonic()
    with _waiting_lock:
        due = [
            _waiting.pop(key)
            for key, (_client, _items, since) in list(_waiting.items())
            if now - since >= older_than
        ]
    pushed = 0
    for client, items, _since in due:
        try:
            with client.pipeline(transaction=False) as pipe:
                for key, chunk, _rows, _fallback in items:
                    pipe.rpush(key, chunk)
                pipe.execute()
        except CACHE_ERRORS:
            _not_pushed(items)
            continue
        pushed += len(items)
    return pushed


def read_many(keys: list[str]) -> dict:
    """The hot path's ``get_many``: one round trip that also appends the rows this thread
    deferred (``push_rows``), so a page view or a decide call costs one round trip, impressions
    and exposures included. Any other cache: its ``get_many``."""
    store = cache()
    backend = store.backend
    if not isinstance(backend, RedisCache):
        return store.get_many(keys)
    return guarded(lambda: _push_and_read(backend, keys), {})


def _push_and_read(backend: RedisCache, keys: list[str], counters: dict | None = None) -> dict:
    """Read ``keys``, appending this thread's waiting rows and adding to ``counters`` (by
    default the request's, unless an earlier read carried them) in the same round trip."""
    client = redis_client(backend)
    # ``make_key``: the validation ``make_and_validate_key`` adds only warns of keys memcached
    # would refuse, a character at a time (about 6% of this read's CPU); Redis takes any key.
    full = [backend.make_key(key) for key in keys]
    items = _take(client)
    if counters is None:
        counters = _counters.get()
        if counters is not None and counters["pairs"] is not None:
            counters = None  # carried by an earlier read of this request
    try:
        if items or counters:
            script = client.__dict__.get("_pz_push_and_read")
            if script is None:
                script = client._pz_push_and_read = client.register_script(_PUSH_AND_READ)
            counter_keys = counters["keys"] if counters else []
            values = script(
                keys=[item[0] for item in items] + counter_keys + full,
                args=[
                    len(items),
                    len(counter_keys),
                    *(item[1] for item in items),
                    *(counters["args"] if counters else ()),
                ],
            )
            if counters:
                counted, values = values[: 2 * len(counter_keys)], values[2 * len(counter_keys) :]
                counters["pairs"] = [
                    (int(counted[i]), int(counted[i + 1] or 0)) for i in range(0, len(counted), 2)
                ]
        else:
            values = client.mget(full)
    except CACHE_ERRORS:
        if items:
            _not_pushed(items)
        raise
    loads = backend._cache._serializer.loads
    return {key: loads(value) for key, value in zip(keys, values, strict=True) if value is not None}


# Trim the rows a drainer read only while it still holds the lock: a drainer whose lock expired
# mid-flush (a slow database) trims nothing, and the rows it wrote are written again,
# harmlessly (``write`` ignores rows already stored), by whoever holds the lock now.
_TRIM_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    redis.call('ltrim', KEYS[2], tonumber(ARGV[2]), -1)
    return 1
end
return 0
"""


def drain_list(
    name: str, lock_name: str, write, *, limit: int = 5000, lock_timeout: float = 60.0
) -> int:
    """Hand a buffer's rows to ``write(rows) -> int`` in chunks; returns the sum it reports.

    One drainer at a time: a redis-py ``Lock`` with a token (released only by its owner). Rows
    are read from the head of the list, written, then exactly the rows read are trimmed, in one
    script that checks the lock is still ours. Pushes only append to the tail, so nothing unread
    is lost; a crash between write and trim re-delivers rows, so ``write`` must ignore rows
    already stored.
    """
    import contextlib

    from redis.exceptions import LockError

    target = redis_list(name)
    if target is None:
        return 0
    push_waiting()  # what this process deferred is drained too
    client, key = target
    lock_key = cache().backend.make_and_validate_key(lock_name)
    lock = client.lock(lock_key, timeout=lock_timeout, blocking=False)
    if not lock.acquire():
        return 0
    token = lock.local.token
    trim = client.register_script(_TRIM_IF_OWNER)
    written = 0
    try:
        while True:
            chunks = client.lrange(key, 0, limit - 1)
            if not chunks:
                return written
            written += write([row for chunk in chunks for row in json.loads(chunk)])
            if not trim(keys=[lock_key, key], args=[token, len(chunks)]):
                logging.getLogger(__name__).warning(
                    "Draining %s lost its lock; the next drain trims", name
                )
                return written
    finally:
        with contextlib.suppress(LockError):  # expired, maybe taken by another: not ours
            lock.release()
