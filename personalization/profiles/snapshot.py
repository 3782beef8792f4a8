"""The cached profile snapshot: everything the hot path needs about a visitor, in one cache read.

A snapshot is built from three queries (profile, counters, consent) on a miss and is tagged with
the visitor's generation (see ``visitor_cache``); one ``get_many`` fetches both, so a hit costs a
single round trip and a stale one is never trusted.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from ..conf import get_setting
from ..consent.services import explicit_consent
from ..registry import derivers
from ..visitor_cache import bump_generation, cache, generation_key, snapshot_key
from .buckets import (
    DAY,
    EPOCH,
    FINE,
    FINE_MINUTES,
    HOUR,
    daily_horizon,
    day_index,
    day_start,
    fine_index,
    fine_start,
    hour_index,
    hour_start,
    hourly_horizon,
)
from .models import Granularity, ProfileCounter, VisitorAlias, VisitorProfile

SNAPSHOT_FORMAT = 3  # 2: 5-minute buckets; 3: ``derived``
FINE_PER_HOUR = 60 // FINE_MINUTES


def series_key(event_type: str, dimension: str = "") -> str:
    return f"{event_type}|{dimension}"


@dataclass(frozen=True)
class ProfileSnapshot:
    visitor_id: uuid.UUID
    exists: bool = False
    generation: int = 0
    built_at: datetime | None = None
    alias_of: uuid.UUID | None = None
    consent: dict[str, bool] = field(default_factory=dict)
    user_id: int | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    visit_count: int = 0
    event_count: int = 0
    device_type: str = ""
    os: str = ""
    browser: str = ""
    country: str = ""
    region: str = ""
    language: str = ""
    first_referrer: str = ""
    latest_referrer: str = ""
    first_utm: dict[str, str] = field(default_factory=dict)
    latest_utm: dict[str, str] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    purchase_count: int = 0
    monetary_total: float = 0.0
    last_purchase_at: datetime | None = None
    predicted_scores: dict[str, float] = field(default_factory=dict)
    persona: str = ""
    # series key -> {hour index: (count, value)}, {day index: (count, value)}, (count, value)
    hourly: dict[str, dict[int, tuple[int, float]]] = field(default_factory=dict)
    daily: dict[str, dict[int, tuple[int, float]]] = field(default_factory=dict)
    totals: dict[str, tuple[int, float]] = field(default_factory=dict)
    # series key -> {5-minute index: (count, value)}, over the hourly window
    fine: dict[str, dict[int, tuple[int, float]]] = field(default_factory=dict)
    # What higher layers computed from this state before it was cached, by name (segments:
    # the results of profile-only segments, see ``segments.precomputed``). Never compared.
    derived: dict[str, Any] = field(default_factory=dict, compare=False)
    format: int = SNAPSHOT_FORMAT

    def _counted(
        self, key: str, within: timedelta, now: datetime
    ) -> list[tuple[tuple[int, float], datetime]]:
        """The buckets a window counts at ``now``, each with the instant it stops counting.

        Inside the hourly window: the whole hours from hourly buckets, the oldest partial hour
        from 5-minute buckets (a bucket counts while any of it is inside the window, so an event
        leaves at most 5 minutes late). An hour with no 5-minute buckets at all was folded before
        they existed: it counts whole, as it used to. Beyond: whole days.
        """
        since = now - within
        if since < hourly_horizon(now, get_setting("HOURLY_COUNTER_HOURS")):
            first = day_index(day_start(since))
            return [
                (pair, EPOCH + (index + 1) * DAY + within)
                for index, pair in self.daily.get(key, {}).items()
                if index >= first
            ]
        edge = hour_start(since)
        if edge < since:
            edge += HOUR  # the first whole hour inside the window
        fine, hourly = self.fine.get(key, {}), self.hourly.get(key, {})
        first_fine_of_hour: dict[int, int] = {}  # hour index -> its oldest 5-minute index
        for index in fine:
            hour = index // FINE_PER_HOUR
            if index < first_fine_of_hour.get(hour, index + 1):
                first_fine_of_hour[hour] = index
        first_fine, edge_fine = fine_index(fine_start(since)), fine_index(edge)
        counted = [
            (pair, EPOCH + (index + 1) * FINE + within)
            for index, pair in fine.items()
            if first_fine <= index < edge_fine
        ]
        edge_hour = hour_index(edge)
        for index, pair in hourly.items():
            if index >= edge_hour:
                # Counted whole until the window's edge reaches it; from then on its 5-minute
                # buckets leave one by one, the oldest first.
                oldest = first_fine_of_hour.get(index)
                if oldest is None:
                    counted.append((pair, EPOCH + (index + 1) * HOUR + within))
                else:
                    counted.append((pair, EPOCH + (oldest + 1) * FINE + within))
            elif index == edge_hour - 1 and edge > since and index not in first_fine_of_hour:
                counted.append((pair, edge + within))  # folded before 5-minute buckets
        return counted

    def _window(
        self, key: str, within: timedelta | None, now: datetime | None
    ) -> tuple[int, float]:
        if within is None:
            return self.totals.get(key, (0, 0.0))
        count = value = 0
        for (c, v), _exit in self._counted(key, within, now or timezone.now()):
            count += c
            value += v
        return count, value

    def window_changes_at(
        self, event_type: str, dimension: str, within: timedelta | None, now: datetime
    ) -> datetime | None:
        """The first instant after ``now`` at which ``count``/``value_sum`` over this window
        would change by time alone (an event leaving it), or None if it never will."""
        if within is None:
            return None
        exits = [
            exit_at
            for _pair, exit_at in self._counted(series_key(event_type, dimension), within, now)
            if exit_at > now
        ]
        return min(exits, default=None)

    def count(
        self,
        event_type: str,
        dimension: str = "",
        *,
        within: timedelta | None = None,
        now: datetime | None = None,
    ) -> int:
        """Events of a type (optionally one tag/category/page) in the last ``within``, or ever.

        Inside the hourly window an event counts until at most 5 minutes after it left the
        window; beyond it, windows count whole days.
        """
        return self._window(series_key(event_type, dimension), within, now)[0]

    def value_sum(
        self,
        event_type: str,
        dimension: str = "",
        *,
        within: timedelta | None = None,
        now: datetime | None = None,
    ) -> float:
        return self._window(series_key(event_type, dimension), within, now)[1]

    def top_dimensions(self, prefix: str = "tag:", limit: int = 5) -> list[tuple[str, int]]:
        """The most frequent tags (or categories) across all event types, all time."""
        tally: dict[str, int] = {}
        for key, (count, _value) in self.totals.items():
            dimension = key.split("|", 1)[1]
            if dimension.startswith(prefix):
                name = dimension[len(prefix) :]
                tally[name] = tally.get(name, 0) + count
        return sorted(tally.items(), key=lambda item: (-item[1], item[0]))[:limit]

    @property
    def recency_days(self) -> float | None:
        if self.last_purchase_at is None:
            return None
        return (timezone.now() - self.last_purchase_at).total_seconds() / 86400

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the API (the visitor's own data)."""
        return {
            "visitor_id": str(self.visitor_id),
            "exists": self.exists,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "visit_count": self.visit_count,
            "event_count": self.event_count,
            "device_type": self.device_type,
            "os": self.os,
            "browser": self.browser,
            "country": self.country,
            "region": self.region,
            "language": self.language,
            "first_referrer": self.first_referrer,
            "latest_referrer": self.latest_referrer,
            "first_utm": self.first_utm,
            "latest_utm": self.latest_utm,
            "traits": self.traits,
            "rfm": {
                "recency_days": self.recency_days,
                "frequency": self.purchase_count,
                "monetary": self.monetary_total,
            },
            "predicted_scores": self.predicted_scores,
            "persona": self.persona,
            "counts": {key: count for key, (count, _v) in sorted(self.totals.items())},
        }


def build_snapshot(visitor_id: uuid.UUID, *, generation: int = 0) -> ProfileSnapshot:
    """Read a visitor from the database (three queries at most)."""
    now = timezone.now()
    profile = VisitorProfile.objects.filter(visitor_id=visitor_id).first()
    if profile is None:
        target = (
            VisitorAlias.objects.filter(alias_id=visitor_id)
            .values_list("profile__visitor_id", flat=True)
            .first()
        )
        consent = {} if target else explicit_consent(visitor_id)
        return ProfileSnapshot(
            visitor_id=visitor_id,
            generation=generation,
            built_at=now,
            alias_of=target,
            consent=consent,
        )
    hourly: dict[str, dict[int, tuple[int, float]]] = {}
    daily: dict[str, dict[int, tuple[int, float]]] = {}
    totals: dict[str, tuple[int, float]] = {}
    fine: dict[str, dict[int, tuple[int, float]]] = {}
    rows = ProfileCounter.objects.filter(
        Q(granularity=Granularity.TOTAL)
        | Q(
            granularity__in=[Granularity.HOUR, Granularity.FIVE_MINUTES],
            bucket__gte=hourly_horizon(now, get_setting("HOURLY_COUNTER_HOURS")),
        )
        | Q(
            granularity=Granularity.DAY,
            bucket__gte=daily_horizon(now, get_setting("DAILY_COUNTER_DAYS")),
        ),
        profile=profile,
    ).values_list("granularity", "bucket", "event_type", "dimension", "count", "value")
    for granularity, bucket, event_type, dimension, count, value in rows:
        key = series_key(event_type, dimension)
        pair = (count, float(value))
        if granularity == Granularity.TOTAL:
            totals[key] = pair
        elif granularity == Granularity.HOUR:
            hourly.setdefault(key, {})[hour_index(bucket)] = pair
        elif granularity == Granularity.FIVE_MINUTES:
            fine.setdefault(key, {})[fine_index(bucket)] = pair
        else:
            daily.setdefault(key, {})[day_index(bucket)] = pair
    return ProfileSnapshot(
        exists=True,
        generation=generation,
        built_at=now,
        consent=explicit_consent(profile.visitor_id),
        hourly=hourly,
        daily=daily,
        totals=totals,
        fine=fine,
        **_profile_fields(profile),
    )


def _profile_fields(profile: VisitorProfile) -> dict[str, Any]:
    """The snapshot's fields that are the profile row's."""
    return dict(
        visitor_id=profile.visitor_id,
        user_id=profile.user_id,
        first_seen=profile.first_seen,
        last_seen=profile.last_seen,
        visit_count=profile.visit_count,
        event_count=profile.event_count,
        device_type=profile.device_type,
        os=profile.os,
        browser=profile.browser,
        country=profile.country,
        region=profile.region,
        language=profile.language,
        first_referrer=profile.first_referrer,
        latest_referrer=profile.latest_referrer,
        first_utm=profile.first_utm,
        latest_utm=profile.latest_utm,
        traits=profile.traits,
        purchase_count=profile.purchase_count,
        monetary_total=float(profile.monetary_total),
        last_purchase_at=profile.last_purchase_at,
        predicted_scores=profile.predicted_scores,
        persona=profile.persona,
    )


def _cache_snapshot(key: str, snapshot: ProfileSnapshot) -> ProfileSnapshot:
    """Store a snapshot with what the registered derivers (``registry.register_deriver``) add:
    work done once per change of the profile instead of on every request that reads it."""
    for deriver in derivers():
        snapshot = deriver(snapshot)
    cache().set(key, snapshot, get_setting("SNAPSHOT_TTL_SECONDS"))
    return snapshot


def cached_snapshot(visitor_id: uuid.UUID) -> ProfileSnapshot | None:
    """The cached snapshot if it is current (its generation is the visitor's), else None; one
    cache round trip, never a query."""
    skey, gkey = snapshot_keys(visitor_id)
    found = cache().get_many([skey, gkey])
    snapshot = found.get(skey)
    if (
        isinstance(snapshot, ProfileSnapshot)
        and snapshot.format == SNAPSHOT_FORMAT
        and snapshot.generation == int(found.get(gkey) or 0)
    ):
        return snapshot
    return None


def _added(pair: tuple[int, float] | None, count: int, value: Decimal, cap: Decimal):
    """A bucket plus a fold's delta, as the counter row will read after the upsert (the value
    column stops at ``cap``; floats of 2-decimal numbers of 14 digits round-trip exactly)."""
    if pair is None:
        return count, float(value)
    total = Decimal(repr(pair[1])) + value
    return pair[0] + count, float(cap if total > cap else total)


def folded_snapshot(
    base: ProfileSnapshot,
    profile: VisitorProfile,
    consent: dict[str, bool],
    deltas: dict[tuple[str, datetime, str, str], list],
    *,
    now: datetime,
    cap: Decimal,
) -> ProfileSnapshot:
    """``base`` with a fold applied: the profile row as saved, and each counter delta added to
    its bucket, buckets past the horizons dropped. Equal to ``build_snapshot`` after the fold
    (tests compare them) at a cost that grows with the fold, not with the profile: no query.

    ``base`` must hold exactly the counters before the fold (the caller checks it against the
    locked profile row); it is not modified.
    """
    hourly = {key: dict(buckets) for key, buckets in base.hourly.items()}
    fine = {key: dict(buckets) for key, buckets in base.fine.items()}
    daily = {key: dict(buckets) for key, buckets in base.daily.items()}
    totals = dict(base.totals)
    for (granularity, bucket, event_type, dimension), (count, value) in deltas.items():
        key = series_key(event_type, dimension)
        if granularity == Granularity.TOTAL:
            totals[key] = _added(totals.get(key), count, value, cap)
            continue
        if granularity == Granularity.HOUR:
            series, index = hourly.setdefault(key, {}), hour_index(bucket)
        elif granularity == Granularity.FIVE_MINUTES:
            series, index = fine.setdefault(key, {}), fine_index(bucket)
        else:
            series, index = daily.setdefault(key, {}), day_index(bucket)
        series[index] = _added(series.get(index), count, value, cap)
    horizon = hourly_horizon(now, get_setting("HOURLY_COUNTER_HOURS"))
    first_hour, first_fine = hour_index(horizon), fine_index(horizon)
    first_day = day_index(daily_horizon(now, get_setting("DAILY_COUNTER_DAYS")))
    return dataclasses.replace(
        base,
        exists=True,
        alias_of=None,
        built_at=now,
        consent=consent,
        hourly=_since(hourly, first_hour),
        fine=_since(fine, first_fine),
        daily=_since(daily, first_day),
        totals=totals,
        derived={},  # the base's were computed from the state before the fold
        **_profile_fields(profile),
    )


def _since(
    series: dict[str, dict[int, tuple[int, float]]], first: int
) -> dict[str, dict[int, tuple[int, float]]]:
    kept = {}
    for key, buckets in series.items():
        if min(buckets, default=first) < first:
            buckets = {index: pair for index, pair in buckets.items() if index >= first}
        if buckets:
            kept[key] = buckets
    return kept


def store_folded_snapshot(
    visitor_id: uuid.UUID, snapshot: ProfileSnapshot | None, folded_generation: int
) -> ProfileSnapshot:
    """After a fold commits: cache the snapshot it computed, or rebuild one.

    The fold bumped the generation to ``folded_generation`` under the visitor's lock; if this
    bump is the very next one, no other write came between, and ``snapshot`` is the state just
    committed. Otherwise (another fold, traits, scores, consent) it is rebuilt from the database.
    """
    generation = bump_generation(visitor_id)
    if snapshot is None or generation != folded_generation + 1:
        return _store_built(visitor_id, generation)
    return _cache_snapshot(
        snapshot_key(visitor_id), dataclasses.replace(snapshot, generation=generation)
    )


def refresh_snapshot(visitor_id: uuid.UUID) -> ProfileSnapshot:
    """Rebuild and cache a snapshot after a write, so the next request reads it warm.

    It is stored under a fresh generation: if another write lands meanwhile, that write's bump
    makes this copy stale instead of letting it hide the newer state.
    """
    return _store_built(visitor_id, bump_generation(visitor_id))


def _store_built(visitor_id: uuid.UUID, generation: int) -> ProfileSnapshot:
    snapshot = build_snapshot(visitor_id, generation=generation)
    if not snapshot.exists and snapshot.alias_of is None and not snapshot.consent:
        # Nothing is stored about this visitor (erased meanwhile): leave no key named after them.
        cache().delete_many(snapshot_keys(visitor_id))
        return snapshot
    return _cache_snapshot(snapshot_key(visitor_id), snapshot)


def snapshot_keys(visitor_id: uuid.UUID) -> list[str]:
    """The cache keys ``get_snapshot`` reads, for callers that fetch them with other keys."""
    return [snapshot_key(visitor_id), generation_key(visitor_id)]


def get_snapshot(
    visitor_id: uuid.UUID, *, found: dict | None = None, _depth: int = 0
) -> ProfileSnapshot:
    """The visitor's snapshot: one cache round trip on a hit, following a merged id once.

    ``found`` is the result of a ``get_many`` that included ``snapshot_keys(visitor_id)``, when
    the caller read them together with other keys (no round trip of our own then).
    """
    store = cache()
    skey, gkey = snapshot_keys(visitor_id)
    if found is None:
        found = store.get_many([skey, gkey])
    generation = int(found.get(gkey) or 0)
    snapshot = found.get(skey)
    if (
        not isinstance(snapshot, ProfileSnapshot)
        or snapshot.format != SNAPSHOT_FORMAT
        or snapshot.generation != generation
    ):
        snapshot = _cache_snapshot(skey, build_snapshot(visitor_id, generation=generation))
    if snapshot.alias_of is not None and _depth == 0:
        return get_snapshot(snapshot.alias_of, _depth=1)
    return snapshot
