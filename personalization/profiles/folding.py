"""Folding stored events into the profile: idempotent and safe under concurrency.

The visitor is locked (an advisory lock on PostgreSQL, then the profile row) while their
unfolded events are counted and marked folded in the same transaction. A re-delivered task finds
nothing unfolded, and two batches for one visitor folding at once queue on the lock instead of
losing counts. Erasure and consent changes take the same lock, and consent is read under it and
the profile row's: a fold that runs after an erasure finds no events and no consent, so it
recreates nothing, and one that waited while consent was withdrawn counts nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from ..conf import get_setting
from ..consent.purposes import PERSONALIZATION
from ..consent.services import effective_consent, explicit_consent, may_collect_events
from ..events.models import Event
from ..signals import profile_changed
from ..sql import insert_on_conflict, lock_visitor
from ..visitor_cache import bump_generation
from .buckets import EPOCH, daily_horizon, day_start, fine_start, hour_start, hourly_horizon
from .models import Granularity, ProfileCounter, VisitorProfile
from .snapshot import cached_snapshot, folded_snapshot, store_folded_snapshot

logger = logging.getLogger(__name__)

FOLD_CHUNK = 2000
# Errors that one event's content causes every time it is folded (a number past a column's
# range, say): that event is quarantined. Anything else (a lost connection) is retried.
POISON_ERRORS = (DataError, ArithmeticError, ValueError, TypeError)
CounterKey = tuple[str, datetime, str, str]  # granularity, bucket, event type, dimension


def event_dimensions(properties: dict[str, Any]) -> list[str]:
    """The narrower series an event also counts in: its tags, category, page and page type."""
    dims = [""]
    tags = properties.get("tags")
    if isinstance(tags, list):
        dims += [f"tag:{str(t).strip().lower()[:190]}" for t in tags if str(t).strip()]
    category = properties.get("category")
    if isinstance(category, str) and category.strip():
        dims.append(f"category:{category.strip().lower()[:180]}")
    page_id = properties.get("page_id")
    if isinstance(page_id, int) and not isinstance(page_id, bool):
        dims.append(f"page:{page_id}")
    page_type = properties.get("page_type")
    if isinstance(page_type, str) and page_type:
        dims.append(f"page_type:{page_type.lower()[:180]}")
    return list(dict.fromkeys(dims))


def _column_max(model, name: str) -> Decimal:
    field = model._meta.get_field(name)
    return Decimal(10) ** (field.max_digits - field.decimal_places) - Decimal(10) ** (
        -field.decimal_places
    )


def _capped(total: Decimal, model, name: str) -> Decimal:
    """Sums stop at the largest number their column holds instead of failing the fold."""
    return min(total, _column_max(model, name))


def _event_value(properties: dict[str, Any]) -> Decimal:
    """The event's ``value``; one past what a counter column holds is poison (``ValueError``):
    validation refuses those, so it can only come from rows stored before it did."""
    value = properties.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        amount = Decimal(str(round(value, 2)))
        if amount > _column_max(ProfileCounter, "value"):
            raise ValueError(f"value {value} is past the counters' range")
        return amount
    return Decimal("0")


def _locked_profile(visitor_id: uuid.UUID) -> VisitorProfile | None:
    """The visitor's profile row, locked, if there is one (none is created here: a visitor
    without personalization consent gets no profile)."""
    return VisitorProfile.objects.select_for_update().filter(visitor_id=visitor_id).first()


def _lock_profile(visitor_id: uuid.UUID) -> VisitorProfile:
    """Lock the visitor's profile row, creating it first if needed (one query when it exists)."""
    locked = VisitorProfile.objects.select_for_update()
    profile = locked.filter(visitor_id=visitor_id).first()
    if profile is not None:
        return profile
    try:
        with transaction.atomic():
            VisitorProfile.objects.create(visitor_id=visitor_id)
    except IntegrityError:  # created concurrently; the lock below waits for that transaction
        pass
    return locked.get(visitor_id=visitor_id)


def _apply_to_profile(profile: VisitorProfile, event: Event, visit_gap: timedelta) -> None:
    ts = event.timestamp
    ctx = event.context or {}
    is_newest = profile.last_seen is None or ts >= profile.last_seen
    starts_visit = profile.last_seen is None or ts - profile.last_seen > visit_gap
    if profile.first_seen is None or ts < profile.first_seen:
        profile.first_seen = ts
    if starts_visit:
        profile.visit_count += 1
        profile.current_visit_started_at = ts
        profile.latest_referrer = ctx.get("referrer", "")[:500]
        profile.latest_landing_url = ctx.get("url", "")[:500]
        profile.latest_utm = ctx.get("utm", {})
        if profile.visit_count == 1:
            profile.first_referrer = profile.latest_referrer
            profile.first_landing_url = profile.latest_landing_url
            profile.first_utm = profile.latest_utm
    if is_newest:
        profile.last_seen = ts
        for field in ("device_type", "os", "browser", "country", "region", "language"):
            if ctx.get(field):
                setattr(profile, field, str(ctx[field])[: 16 if field != "os" else 64])
    profile.event_count += 1
    if event.type == "purchase":
        profile.purchase_count += 1
        total = profile.monetary_total + _event_value(event.properties)
        profile.monetary_total = _capped(total, VisitorProfile, "monetary_total")
        if profile.last_purchase_at is None or ts > profile.last_purchase_at:
            profile.last_purchase_at = ts


def _counter_deltas(events: list[Event], now: datetime) -> dict[CounterKey, list]:
    hourly_from = hourly_horizon(now, get_setting("HOURLY_COUNTER_HOURS"))
    daily_from = daily_horizon(now, get_setting("DAILY_COUNTER_DAYS"))
    deltas: dict[CounterKey, list] = defaultdict(lambda: [0, Decimal("0")])
    for event in events:
        value = _event_value(event.properties)
        buckets = [(Granularity.TOTAL, EPOCH)]
        if event.timestamp >= hourly_from:
            buckets.append((Granularity.HOUR, hour_start(event.timestamp)))
            buckets.append((Granularity.FIVE_MINUTES, fine_start(event.timestamp)))
        if event.timestamp >= daily_from:
            buckets.append((Granularity.DAY, day_start(event.timestamp)))
        for dimension in event_dimensions(event.properties):
            for granularity, bucket in buckets:
                delta = deltas[(str(granularity), bucket, event.type, dimension)]
                delta[0] += 1
                delta[1] = _capped(delta[1] + value, ProfileCounter, "value")
    return deltas


def _apply_counters(profile: VisitorProfile, deltas: dict[CounterKey, list]) -> None:
    """Add the deltas to the stored counters in one upsert per 500 rows, without reading them."""
    insert_on_conflict(
        ProfileCounter,
        ("profile", "granularity", "bucket", "event_type", "dimension", "count", "value"),
        (
            (profile.pk, granularity, bucket, event_type, dimension, count, value)
            for (granularity, bucket, event_type, dimension), (count, value) in deltas.items()
        ),
        conflict=("profile", "granularity", "bucket", "event_type", "dimension"),
        add=("count", "value"),
        ceilings={"value": _column_max(ProfileCounter, "value")},
    )


def fold_visitor(visitor_id: uuid.UUID | str, *, now: datetime | None = None) -> int:
    """Fold every unfolded event of a visitor into their profile; returns how many were counted.

    Events of a visitor who has not consented to personalization are marked folded without
    touching the profile: consent is not retroactive.
    """
    visitor_id = uuid.UUID(str(visitor_id))
    now = now or timezone.now()
    total = 0
    while True:
        try:
            processed, counted = _fold_chunk(visitor_id, now)
        except POISON_ERRORS:
            processed, counted = _fold_one_by_one(visitor_id, now)
        total += counted
        if processed < FOLD_CHUNK:
            return total


def _fold_one_by_one(visitor_id: uuid.UUID, now: datetime) -> tuple[int, int]:
    """A chunk failed: fold its events one at a time and quarantine those that still fail, so
    one bad event never keeps the visitor's others (or the next visitors) unfolded."""
    pks = list(
        Event.objects.filter(visitor_id=visitor_id, folded=False)
        .order_by("timestamp", "id")
        .values_list("pk", flat=True)[:FOLD_CHUNK]
    )
    counted = 0
    for pk in pks:
        try:
            counted += _fold_chunk(visitor_id, now, only=pk)[1]
        except POISON_ERRORS as exc:
            Event.objects.filter(pk=pk).update(folded=True, quarantined=True)
            logger.error(
                "Quarantined event %s of visitor %s: folding it fails with %s: %s",
                pk,
                visitor_id,
                type(exc).__name__,
                exc,
            )
    return len(pks), counted


def _fold_chunk(visitor_id: uuid.UUID, now: datetime, only: int | None = None) -> tuple[int, int]:
    """Fold up to FOLD_CHUNK events (or the one event ``only``): (events marked folded, events
    counted).

    Events whose visitor no longer allows collecting them (consent withdrawn, or the visitor
    erased while the batch was in flight) are deleted, not kept unfolded or folded.
    """
    with transaction.atomic():
        lock_visitor(visitor_id)
        unfolded = Event.objects.filter(visitor_id=visitor_id, folded=False)
        if only is not None:
            unfolded = unfolded.filter(pk=only)
        events = list(unfolded.order_by("timestamp", "id")[:FOLD_CHUNK])
        if not events:
            return 0, 0
        # Consent is read once both locks are held (``record_consent`` takes the visitor lock
        # too): a withdrawal committed while this fold waited for the profile row is seen here,
        # not ignored for the events it would otherwise count.
        profile = _locked_profile(visitor_id)
        explicit = explicit_consent(visitor_id)
        if not may_collect_events(explicit):
            Event.objects.filter(pk__in=[e.pk for e in events]).delete()
            return len(events), 0
        allowed = effective_consent(explicit)[PERSONALIZATION]
        snapshot = None
        if allowed:
            profile = profile or _lock_profile(visitor_id)
            # The cached snapshot, read before our bump drops it: it is the base the fold's
            # deltas are added to when it holds exactly the counters this locked row counted.
            base = cached_snapshot(visitor_id)
            usable = (
                base is not None
                and base.exists
                and base.visitor_id == visitor_id
                and base.event_count == profile.event_count
            )
            gap = timedelta(minutes=get_setting("VISIT_TIMEOUT_MINUTES"))
            for event in events:
                _apply_to_profile(profile, event, gap)
            deltas = _counter_deltas(events, now)
            _apply_counters(profile, deltas)
            profile.save()
            if usable:
                snapshot = folded_snapshot(
                    base,
                    profile,
                    explicit,
                    deltas,
                    now=now,
                    cap=_column_max(ProfileCounter, "value"),
                )
        Event.objects.filter(Q(pk__in=[e.pk for e in events])).update(folded=True)
        generation = bump_generation(visitor_id)  # readers inside this transaction
        transaction.on_commit(lambda: store_folded_snapshot(visitor_id, snapshot, generation))
        if allowed:  # in the same transaction: segment membership moves with the counts
            profile_changed.send(VisitorProfile, visitor_id=visitor_id)
    return len(events), len(events) if allowed else 0


def fold_stragglers(*, older_than: timedelta | None = None, limit: int = 1000) -> int:
    """Fold events whose fold task never ran (a broker outage between commit and enqueue, a
    worker killed holding the message unacknowledged until the broker's visibility timeout).
    Events older than ``PERSONALIZATION_FOLD_STRAGGLER_SECONDS`` count as lost; run it from
    beat about as often, so none waits much longer than twice that. Returns how many visitors
    it folded."""
    if older_than is None:
        older_than = timedelta(seconds=get_setting("FOLD_STRAGGLER_SECONDS"))
    cutoff = timezone.now() - older_than
    visitor_ids = list(
        Event.objects.filter(folded=False, received_at__lt=cutoff)
        .values_list("visitor_id", flat=True)
        .distinct()[:limit]
    )
    failed = 0
    for visitor_id in visitor_ids:
        try:
            fold_visitor(visitor_id)
        except Exception:  # noqa: BLE001 - one visitor's failure must not stop the sweep
            failed += 1
            logger.exception("Folding visitor %s failed; the next sweep retries", visitor_id)
    return len(visitor_ids) - failed
