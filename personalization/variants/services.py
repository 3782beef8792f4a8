"""Personalized snippets by slug, decisions for placements, and impressions.

Snippet definitions are loaded once per process per content version (one query after an edit,
none after that), so a ``decide`` call or a page full of snippets reads no content table.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import LockError

from ..conf import get_setting
from ..consent.services import visitors_collecting_events
from ..context import VisitorContext
from ..visitor_cache import CACHE_ERRORS, cache, cache_failed, cache_is_down
from .blocks import variant_rule
from .models import Impression, PersonalizedContent
from .selection import Choice, VariantRule, choose

logger = logging.getLogger(__name__)

BUFFER_KEY = "personalization:impressions:buffer"
FLUSH_LOCK_KEY = "personalization:impressions:flushing"
DEFINITIONS_TTL = 60.0  # seconds; a safety net should the version key be evicted


@dataclass(frozen=True)
class CompiledSnippet:
    id: int
    slug: str
    name: str
    variants: tuple[tuple[VariantRule, Any], ...]
    fallback: Any


@dataclass(frozen=True)
class Decision:
    placement: str
    choice: Choice
    decision_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def content(self):
        return self.choice.payload


_snippets: tuple[str, float, dict[str, CompiledSnippet]] | None = None


def compile_snippet(snippet: PersonalizedContent) -> CompiledSnippet:
    return CompiledSnippet(
        id=snippet.pk,
        slug=snippet.slug,
        name=snippet.name,
        variants=tuple(
            (variant_rule(child.id, child.value), child.value["content"])
            for child in snippet.variants
        ),
        fallback=snippet.fallback,
    )


def snippet_definitions(content_version: str) -> dict[str, CompiledSnippet]:
    """Every personalized snippet by slug, for this content version."""
    global _snippets
    if (
        _snippets is not None
        and _snippets[0] == content_version
        and time.monotonic() - _snippets[1] < DEFINITIONS_TTL
    ):
        return _snippets[2]
    compiled = {s.slug: compile_snippet(s) for s in PersonalizedContent.objects.all()}
    _snippets = (content_version, time.monotonic(), compiled)
    return compiled


def choose_snippet(snippet: CompiledSnippet, context: VisitorContext) -> Choice:
    return choose(snippet.variants, context.segments, snippet.fallback, now=context.now)


def decide(
    placements: Sequence[str], context: VisitorContext, *, content_version: str
) -> list[Decision]:
    """One decision per placement (a snippet slug). Unknown slugs raise ``KeyError``."""
    snippets = snippet_definitions(content_version)
    return [Decision(slug, choose_snippet(snippets[slug], context)) for slug in placements]


def record_impressions(context: VisitorContext, decisions: Sequence[Decision]) -> int:
    """Keep what was shown, for visitors whose consent lets us: off the request path.

    With Redis as the cache, the whole call's impressions are one ``RPUSH`` (no database
    transaction on the hot path); ``flush_impressions`` (a beat task) writes them in bulk.
    Without Redis (a laptop, SQLite), with ``PERSONALIZATION_IMPRESSION_BUFFER`` off, or while
    Redis is down, they are one INSERT, in the request. Buffered rows are best-effort: a Redis
    restart without persistence loses what the last flush had not written (see docs/faults.md).
    """
    if (
        not decisions
        or context.visitor_id is None
        or not context.collects_events
        or context.preview
    ):
        return 0
    rows = [
        {
            "decision_id": str(d.decision_id),
            "visitor_id": str(context.visitor_id),
            "placement": d.placement[:80],
            "variant_id": d.choice.variant_id or "",
            "segments": list(d.choice.reason),
            "created_at": context.now.isoformat(),
        }
        for d in decisions
    ]
    buffer = impression_buffer()
    if buffer is not None:
        client, key = buffer
        try:
            client.rpush(key, json.dumps(rows, separators=(",", ":")))
            return len(rows)
        except CACHE_ERRORS as exc:  # Redis is down: the durable path instead
            cache_failed(exc)
    _insert(rows)  # consent was just checked on the snapshot
    return len(rows)


def impression_buffer(*, flushing: bool = False):
    """(Redis client, list key) when the cache is Django's Redis backend and up, else None."""
    store = cache().backend
    if not isinstance(store, RedisCache) or cache_is_down():
        return None
    if not flushing and not get_setting("IMPRESSION_BUFFER"):
        return None  # still drained: rows pushed before the setting changed
    key = store.make_and_validate_key(BUFFER_KEY)
    return store._cache.get_client(key, write=True), key


# Trim the rows a flusher read only while it still holds the lock: a flusher whose lock
# expired mid-flush (a slow database) trims nothing, and the rows it wrote are written again,
# harmlessly (decision ids are unique), by whoever holds the lock now.
_TRIM_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    redis.call('ltrim', KEYS[2], tonumber(ARGV[2]), -1)
    return 1
end
return 0
"""


def flush_impressions(*, limit: int = 5000, lock_timeout: float = 60.0) -> int:
    """Write buffered impressions to the database; returns how many were written.

    One flusher at a time: a redis-py ``Lock`` with a token (released only by its owner). Rows
    are read from the head of the list, written (ignoring ones already there, so a retry after
    a crash duplicates nothing), then exactly the rows read are trimmed, in one script that
    checks the lock is still ours. Pushes only append to the tail, so nothing unread is lost.
    Visitors who withdrew consent or were erased while their impressions waited are dropped.
    """
    buffer = impression_buffer(flushing=True)
    if buffer is None:
        return 0
    client, key = buffer
    lock_key = cache().backend.make_and_validate_key(FLUSH_LOCK_KEY)
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
            rows = [row for chunk in chunks for row in json.loads(chunk)]
            allowed = visitors_collecting_events({row["visitor_id"] for row in rows})
            written += _insert([row for row in rows if uuid.UUID(row["visitor_id"]) in allowed])
            if not trim(keys=[lock_key, key], args=[token, len(chunks)]):
                logger.warning("Impression flush lost its lock; the next flush trims")
                return written
    finally:
        with contextlib.suppress(LockError):  # expired, maybe taken by another: not ours
            lock.release()


def _insert(rows: list[dict]) -> int:
    Impression.objects.bulk_create(
        [Impression(**row) for row in rows], ignore_conflicts=True, batch_size=1000
    )
    return len(rows)
