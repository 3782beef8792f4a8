"""Storing events: idempotent, append-only, one round trip for duplicates and one for the insert."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime

from django.db import connection
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


_COLUMNS = ("visitor_id", "key", "type", "timestamp", "received_at", "properties", "context")


def _insert_new(rows: list[Event]) -> set[str]:
    """Insert, skipping keys already stored, and return the keys this call really inserted.

    ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (PostgreSQL, SQLite >= 3.35) answers in one
    round trip and stays exact when the same batch arrives twice at once: the second insert waits
    on the unique index and returns nothing, so it is reported as duplicates, not as accepted.
    """
    fields = [Event._meta.get_field(name) for name in (*_COLUMNS, "folded")]
    table = connection.ops.quote_name(Event._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params: list = []
    for row in rows:
        params.extend(f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields)
    # Identifiers come from the model's metadata, quoted; every value is a parameter.
    values = ", ".join([placeholders] * len(rows))
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES {values} "  # noqa: S608
        f"ON CONFLICT ({connection.ops.quote_name('visitor_id')}, "
        f"{connection.ops.quote_name('key')}) DO NOTHING "
        f"RETURNING {connection.ops.quote_name('key')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {key for (key,) in cursor.fetchall()}


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
            folded=False,
        )
    inserted = _insert_new(list(by_key.values())) if by_key else set()
    return len(inserted), len(events) - len(inserted)
