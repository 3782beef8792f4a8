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
