"""Cache keys for per-visitor data, and the generation counter that keeps them honest.

Every write that changes what a visitor's snapshot would contain bumps the visitor's generation.
A reader fetches the snapshot and the generation in one round trip (``get_many``) and rebuilds
when they differ, so a snapshot built from a read that raced with a write is never served for long.
"""

from __future__ import annotations

import uuid

from django.core.cache import caches
from django.db import transaction

from .cache_backends import (
    CACHE_ERRORS,
    FailSoftCache,
    cache_failed,
    cache_in_outage,
    cache_is_down,
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


def push_rows(name: str, rows: list[dict]) -> bool:
    """Append rows to a buffer list in one ``RPUSH``. False when there is no buffer or Redis
    fails: the caller then writes the rows directly (the durable path), never loses them."""
    import json

    target = redis_list(name)
    if target is None:
        return False
    client, key = target
    try:
        client.rpush(key, json.dumps(rows, separators=(",", ":")))
    except CACHE_ERRORS as exc:
        cache_failed(exc)
        return False
    return True


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
    import json
    import logging

    from redis.exceptions import LockError

    target = redis_list(name)
    if target is None:
        return 0
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
