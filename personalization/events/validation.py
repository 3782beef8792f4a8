"""Turning untrusted event dicts into ``EventIn``, with errors that name the field.

Each item is judged on its own, so one bad event never sinks the batch.
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime

from ..conf import get_setting
from ..registry import allowed_properties, event_types
from ..text import text_problem, type_names
from ..types import EventIn

CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
PROPERTY_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
MAX_STRING = 1000
MAX_LIST = 50
MAX_BIGINT = 2**63 - 1


class EventError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class _Limits:
    """The settings validation reads, read once per batch instead of several times per event."""

    latest: datetime
    earliest: datetime
    max_age_days: int
    max_value: Any
    max_properties_bytes: int
    browser_types: frozenset[str]
    types: dict[str, Any]
    allowed: dict[str, dict[str, tuple[type, ...]]]

    @classmethod
    def at(cls, now: datetime) -> _Limits:
        days = get_setting("MAX_EVENT_AGE_DAYS")
        return cls(
            latest=now + timedelta(seconds=get_setting("MAX_CLOCK_SKEW_SECONDS")),
            earliest=now - timedelta(days=days),
            max_age_days=days,
            max_value=get_setting("MAX_EVENT_VALUE"),
            max_properties_bytes=get_setting("MAX_PROPERTIES_BYTES"),
            browser_types=frozenset(get_setting("BROWSER_EVENT_TYPES")),
            types=event_types(),
            allowed={},
        )

    def allowed_for(self, name: str) -> dict[str, tuple[type, ...]]:
        known = self.allowed.get(name)
        if known is None:
            known = self.allowed[name] = allowed_properties(self.types[name])
        return known


# Built once: json.dumps(value, separators=...) builds a new encoder on every call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _timestamp(value: Any, now: datetime, limits: _Limits) -> datetime:
    if value is None:
        return now
    if isinstance(value, bool):
        raise EventError("timestamp", "Must be an ISO 8601 string or epoch milliseconds.")
    if isinstance(value, int | float):
        try:
            parsed = datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise EventError("timestamp", "Epoch milliseconds out of range.") from None
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise EventError("timestamp", "Not a valid ISO 8601 date-time.")
        if timezone.is_naive(parsed):
            raise EventError("timestamp", "Needs a time zone offset (e.g. 'Z' or '+02:00').")
    else:
        raise EventError("timestamp", "Must be an ISO 8601 string or epoch milliseconds.")
    if parsed > limits.latest:
        raise EventError("timestamp", "Is in the future.")
    if parsed < limits.earliest:
        raise EventError("timestamp", f"Is older than {limits.max_age_days} days.")
    return parsed


def _check_value(path: str, value: Any, depth: int = 0) -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise EventError(path, "Must be a finite number.")
        return
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise EventError(path, f"Longer than {MAX_STRING} characters.")
        problem = text_problem(value)
        if problem:
            raise EventError(path, problem)
        return
    if isinstance(value, list):
        if len(value) > MAX_LIST:
            raise EventError(path, f"More than {MAX_LIST} items.")
        for i, item in enumerate(value):
            if isinstance(item, list | dict):
                raise EventError(f"{path}[{i}]", "Lists hold plain values only.")
            _check_value(f"{path}[{i}]", item, depth + 1)
        return
    if isinstance(value, dict):
        if depth >= 2:
            raise EventError(path, "Nested too deeply.")
        for key, item in value.items():
            if not isinstance(key, str) or not PROPERTY_NAME_RE.match(key):
                raise EventError(f"{path}.{key}", "Invalid property name.")
            _check_value(f"{path}.{key}", item, depth + 1)
        return
    raise EventError(path, "Unsupported value type.")


def _is_uuid(value: Any) -> bool:
    """Clicks and conversions name the decision they follow, for attribution."""
    try:
        uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return False
    return isinstance(value, str)


def _properties(event_type_name: str, value: Any, limits: _Limits) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise EventError("properties", "Must be an object.")
    event_type = limits.types[event_type_name]
    known = limits.allowed_for(event_type_name)
    for name in event_type.required:
        if value.get(name) is None:
            raise EventError(f"properties.{name}", f"Required for '{event_type_name}' events.")
    for name, item in value.items():
        if not isinstance(name, str) or not PROPERTY_NAME_RE.match(name):
            raise EventError(f"properties.{name}", "Invalid property name.")
        expected = known.get(name)
        if expected and item is not None:
            ok = isinstance(item, expected) and not (
                isinstance(item, bool) and bool not in expected
            )
            if not ok:
                raise EventError(f"properties.{name}", f"Must be {type_names(expected)}.")
        _check_value(f"properties.{name}", item, depth=1)
    amount = value.get("value")
    if isinstance(amount, int | float) and not isinstance(amount, bool):
        if amount < 0:
            raise EventError("properties.value", "Must not be negative.")
        if amount > limits.max_value:
            raise EventError("properties.value", f"Must be at most {limits.max_value:,}.")
    page_id = value.get("page_id")
    if isinstance(page_id, int) and not 0 <= page_id <= MAX_BIGINT:
        raise EventError("properties.page_id", "Must be a page id (0 to 2^63-1).")
    if "decision_id" in value and not _is_uuid(value["decision_id"]):
        raise EventError("properties.decision_id", "Must be a decision id (a UUID).")
    tags = value.get("tags")  # null is allowed, as for any optional property
    if tags is not None and any(not isinstance(t, str) for t in tags):
        raise EventError("properties.tags", "Must be a list of strings.")
    size = len(_COMPACT.encode(value))
    if size > limits.max_properties_bytes:
        raise EventError("properties", f"Larger than {limits.max_properties_bytes} bytes.")
    return value


def browser_safe(event_type: str) -> bool:
    """Whether a browser may send this type for itself (``PERSONALIZATION_BROWSER_EVENT_TYPES``)."""
    return event_type in get_setting("BROWSER_EVENT_TYPES")


def event_signature(visitor_id: uuid.UUID, event: dict[str, Any]) -> str:
    """HMAC over the visitor, type, id and properties of an event (sorted-key JSON)."""
    message = json.dumps(
        [str(visitor_id), event.get("type"), event.get("id"), event.get("properties") or {}],
        sort_keys=True,
        separators=(",", ":"),
    )
    secret = get_setting("EVENT_SIGNING_KEY") or None
    return salted_hmac(
        "personalization.event", message, secret=secret, algorithm="sha256"
    ).hexdigest()


def sign_event(visitor_id: uuid.UUID, event: dict[str, Any]) -> dict[str, Any]:
    """The event with a ``signature`` a browser may relay: for trusted types (a purchase your
    server confirmed) sent by the browser, e.g. through ``tracker.js``. It needs an ``id``, so a
    replayed copy is a duplicate, and it is valid for this visitor only."""
    if not event.get("id"):
        raise ValueError("A signed event needs an 'id'.")
    return {**event, "signature": event_signature(visitor_id, event)}


def _check_trust(raw: dict[str, Any], event_type: str, visitor_id: uuid.UUID | None) -> None:
    signature = raw.get("signature")
    if signature is None:
        raise EventError(
            "type",
            f"'{event_type}' events are accepted only from a server (an API key, or a server "
            "signature); see PERSONALIZATION_BROWSER_EVENT_TYPES.",
        )
    if raw.get("id") is None:
        raise EventError("id", "Required for a signed event.")
    if (
        not isinstance(signature, str)
        or visitor_id is None
        or not hmac.compare_digest(signature.encode(), event_signature(visitor_id, raw).encode())
    ):
        raise EventError("signature", "Does not match this event and visitor.")


def validate_event(
    raw: Any,
    *,
    now: datetime | None = None,
    trusted: bool = True,
    visitor_id: uuid.UUID | None = None,
) -> EventIn:
    """One raw event to ``EventIn``, or ``EventError`` naming the bad field.

    ``trusted=False`` (a browser calling for itself) accepts only browser-safe types, or others
    carrying a valid ``signature`` for ``visitor_id``. Server code (``track_event``, imports,
    API-key clients) is trusted.
    """
    now = now or timezone.now()
    return _validate(raw, now, _Limits.at(now), trusted=trusted, visitor_id=visitor_id)


def _validate(
    raw: Any, now: datetime, limits: _Limits, *, trusted: bool, visitor_id: uuid.UUID | None
) -> EventIn:
    if not isinstance(raw, dict):
        raise EventError("", "Each event must be an object.")
    unknown = set(raw) - {"type", "id", "timestamp", "properties", "signature"}
    if unknown:
        raise EventError(sorted(unknown)[0], "Unknown field.")
    event_type = raw.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise EventError("type", "Required, a string.")
    if event_type not in limits.types:
        raise EventError("type", f"Unknown event type '{event_type[:64]}'.")
    if not trusted and event_type not in limits.browser_types:
        _check_trust(raw, event_type, visitor_id)
    client_id = raw.get("id")
    if client_id is not None and (
        not isinstance(client_id, str) or not CLIENT_ID_RE.match(client_id)
    ):
        raise EventError("id", "Must be 1-64 characters of letters, digits, '_.:-'.")
    return EventIn(
        type=event_type,
        timestamp=_timestamp(raw.get("timestamp"), now, limits),
        properties=_properties(event_type, raw.get("properties"), limits),
        client_id=client_id,
    )


def validate_events(
    raw_events: list[Any],
    *,
    now: datetime | None = None,
    trusted: bool = True,
    visitor_id: uuid.UUID | None = None,
) -> tuple[list[EventIn], list[dict[str, Any]]]:
    """Validate a batch item by item: (good events, errors with index, field and message)."""
    now = now or timezone.now()
    limits = _Limits.at(now)
    valid: list[EventIn] = []
    errors: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_events):
        try:
            valid.append(_validate(raw, now, limits, trusted=trusted, visitor_id=visitor_id))
        except EventError as exc:
            field = f"events[{index}].{exc.field}" if exc.field else f"events[{index}]"
            errors.append({"index": index, "field": field, "message": exc.message})
    return valid, errors
