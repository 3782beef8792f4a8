"""Personalized snippets by slug, decisions for placements, and impressions.

Snippet definitions are loaded once per process per content version (one query after an edit,
none after that), so a ``decide`` call or a page full of snippets reads no content table.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..background import broker_configured
from ..conf import get_setting
from ..consent.services import visitors_collecting_events
from ..context import VisitorContext
from ..visitor_cache import drain_list, push_rows, redis_list
from .blocks import variant_rule
from .models import Impression, PersonalizedContent
from .selection import Choice, VariantRule, choose

logger = logging.getLogger(__name__)

BUFFER_KEY = "personalization:impressions:buffer"
FLUSH_LOCK_KEY = "personalization:impressions:flushing"
DEFINITIONS_TTL = 60.0  # seconds; a safety net should the version key be evicted
MAX_REPRESENTATIONS = 4096


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
    _representations.clear()
    return compiled


# (id of a variant's content, host, rich_text_format) -> (that content, its API representation)
_representations: dict[tuple[int, str, str], tuple[Any, list]] = {}


def api_representation(content, request) -> list:
    """A variant's content as the API shows it, converted once per content version.

    Converting StreamField content costs more than deciding which variant to show, and it only
    changes when an editor publishes (a new content version, which empties this). The key holds
    what Wagtail's blocks read from the request: the host (for absolute URLs) and
    ``rich_text_format``. Entries keep their content object, so an id reused after a new
    version's objects replaced the old ones never answers with stale content.
    """
    if not content:
        return []
    key = (id(content), request.META.get("HTTP_HOST", ""), request.GET.get("rich_text_format", ""))
    cached = _representations.get(key)
    if cached is not None and cached[0] is content:
        return cached[1]
    representation = content.stream_block.get_api_representation(content, {"request": request})
    if len(_representations) >= MAX_REPRESENTATIONS:  # hosts and formats come from clients
        _representations.clear()
    _representations[key] = (content, representation)
    return representation


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
    rows = impression_rows(context, decisions)
    if not rows:
        return 0
    if not (buffering_impressions() and push_rows(BUFFER_KEY, rows, _insert)):
        _insert(rows)  # consent was just checked on the snapshot
    return len(rows)


def impression_rows(context: VisitorContext, decisions: Sequence[Decision]) -> list[dict]:
    """The rows to keep for these decisions; none for visitors we may not record or previews."""
    if (
        not decisions
        or context.visitor_id is None
        or not context.collects_events
        or context.preview
    ):
        return []
    return [
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


def buffering_impressions() -> bool:
    """Whether impressions go to the Redis buffer: a broker runs the beat task that drains it,
    and ``PERSONALIZATION_IMPRESSION_BUFFER`` is on (Redis itself is checked when pushing)."""
    return broker_configured() and bool(get_setting("IMPRESSION_BUFFER"))


def impression_buffer():
    """(Redis client, list key) where impressions are buffered now, else None."""
    return redis_list(BUFFER_KEY) if buffering_impressions() else None


def flush_impressions(*, limit: int = 5000, lock_timeout: float = 60.0) -> int:
    """Write buffered impressions to the database; returns how many were written.

    Rows already there are ignored, so a retry after a crash duplicates nothing. Visitors who
    withdrew consent or were erased while their impressions waited are dropped. One flusher at
    a time, trimming only what it read (``drain_list``); still drained with the buffer turned
    off, for rows pushed before.
    """

    def write(rows: list[dict]) -> int:
        allowed = visitors_collecting_events({row["visitor_id"] for row in rows})
        return _insert([row for row in rows if uuid.UUID(row["visitor_id"]) in allowed])

    return drain_list(BUFFER_KEY, FLUSH_LOCK_KEY, write, limit=limit, lock_timeout=lock_timeout)


def _insert(rows: list[dict]) -> int:
    Impression.objects.bulk_create(
        [Impression(**row) for row in rows], ignore_conflicts=True, batch_size=1000
    )
    return len(rows)
