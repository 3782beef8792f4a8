"""Storing events: idempotent, append-only, one round trip for duplicates and one for the insert."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime

from django.utils import timezone

from ..sql import insert_on_conflict
from ..types import EventIn, RequestContext
from .models import Event


def idempotency_key(event: EventIn) -> str:
    """The client's id when given, else a hash of what the event says.

    Two identical events without ids at the same instant are one event: a retried request
    cannot be told apart from a double send, and counting once is the safe answer.
    """
    if event.client_id:
        return f"c:{event.client_id}"
    body = json.dumps(
        [event.type, event.timestamp.isoformat(), event.properties],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return "h:" + hashlib.sha256(body.encode()).hexdigest()[:48]


_COLUMNS = ("visitor_id", "key", "type", "timestamp", "received_at", "properties", "context")


def store_events(
    visitor_id: uuid.UUID,
    events: list[EventIn],
    context: RequestContext,
    *,
    now: datetime | None = None,
) -> tuple[int, int]:
    """Append events for one visitor; returns (stored, duplicates)."""
    now = now or timezone.now()
    event_context = context.as_event_context()
    by_key: dict[str, Event] = {}
    for event in events:
        key = idempotency_key(event)
        if key in by_key:
            continue
        by_key[key] = Event(
            visitor_id=visitor_id,
            key=key,
            type=event.type,
            timestamp=event.timestamp,
            received_at=now,
            properties=event.properties,
            context=event_context,
        )
    # ON CONFLICT DO NOTHING RETURNING: one round trip, and a batch delivered twice at once is
    # reported as accepted once (the second insert waits on the unique index, returns nothing).
    inserted = insert_on_conflict(
        Event,
        (*_COLUMNS, "folded"),
        ([*(getattr(e, c) for c in _COLUMNS), False] for e in by_key.values()),
        conflict=("visitor_id", "key"),
        returning="key",
    )
    return len(inserted), len(events) - len(inserted)
