"""Storing events: idempotent, append-only, one round trip for duplicates and one for the insert."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime

from django.utils import timezone

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
    if not by_key:
        return 0, len(events)
    existing = set(
        Event.objects.filter(visitor_id=visitor_id, key__in=list(by_key)).values_list(
            "key", flat=True
        )
    )
    new = [e for k, e in by_key.items() if k not in existing]
    if new:
        Event.objects.bulk_create(new, ignore_conflicts=True)
    return len(new), len(events) - len(new)
