"""Features of visitors, computed from their daily counters as of a moment.

Every feature is a function of the daily counter rows strictly before ``as_of`` (the start of a
UTC day): windows of 7/28/90 days, recency and tenure from the first and last active day, RFM from
purchase rows, content affinities as the share of page views per tag or category, the share of
weekend activity. Rows on or after ``as_of`` are ignored by construction, so training data built
"as of a cut-off" cannot see the future (``tests/scoring/test_features.py`` proves it). The device
(the only input taken from the profile row, and only for personas) is the exception, and the
predictive models leave it out for that reason.

The same vectorised function serves the bulk path (``iter_feature_chunks``: two queries per
chunk of profiles, numpy from there on) and the real-time path (``snapshot_features``: the
visitor's cached snapshot already holds the daily series).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.db.models import Q, Sum

from ..profiles.buckets import EPOCH, day_index, day_start
from ..profiles.models import Granularity, ProfileCounter, VisitorProfile
from ..profiles.snapshot import ProfileSnapshot

WINDOWS = (7, 28, 90)
RFM_DAYS = 365
HORIZON_DAYS = 400  # as far back as daily counters go (DAILY_COUNTER_DAYS)
VIEW = "page_view"
GOAL_DEFAULT = "purchase"
DEVICES = ("desktop", "mobile", "tablet")
MAX_EVENT_TYPES = 10
MAX_TAGS = 12
MAX_CATEGORIES = 8
CHUNK = 20_000


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns a model uses; stored with the model so serving builds the same ones."""

    event_types: tuple[str, ...]
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    include_device: bool = False
    # A subset of the columns, in this order (empty: all of them).
    only: tuple[str, ...] = ()

    def names(self) -> list[str]:
        every = self.all_names()
        if not self.only:
            return every
        return [name for name in self.only if name in every]

    def all_names(self) -> list[str]:
        names = [f"log_events_{w}d" for w in WINDOWS]
        for event_type in self.event_types:
            names += [f"log_{event_type}_{w}d" for w in WINDOWS]
        names += [
            "active_days_28d",
            "active_days_90d",
            "days_since_active",
            "tenure_days",
            "weekend_share_90d",
            "purchases_365d",
            "log_monetary_365d",
            "days_since_purchase",
        ]
        names += [f"share_tag_{tag}" for tag in self.tags]
        names += [f"share_category_{category}" for category in self.categories]
        if self.include_device:
            names += [f"device_{device}" for device in DEVICES]
        return names

    def as_dict(self) -> dict:
        return {
            "event_types": list(self.event_types),
            "tags": list(self.tags),
            "categories": list(self.categories),
            "include_device": self.include_device,
            "only": list(self.only),
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        return cls(
            event_types=tuple(data["event_types"]),
            tags=tuple(data["tags"]),
            categories=tuple(data["categories"]),
            include_device=bool(data.get("include_device")),
            only=tuple(data.get("only", ())),
        )


def discover_spec(*, include_device: bool) -> FeatureSpec:
    """The most frequent event types, tags and categories across all profiles (three aggregate
    queries over the all-time counter rows)."""
    totals = ProfileCounter.objects.filter(granularity=Granularity.TOTAL)
    types = (
        totals.filter(dimension="")
        .values("event_type")
        .annotate(total=Sum("count"))
        .order_by("-total", "event_type")
        .values_list("event_type", flat=True)[:MAX_EVENT_TYPES]
    )

    def top(prefix: str, limit: int) -> tuple[str, ...]:
        rows = (
            totals.filter(event_type=VIEW, dimension__startswith=prefix)
            .values("dimension")
            .annotate(total=Sum("count"))
            .order_by("-total", "dimension")
            .values_list("dimension", flat=True)[:limit]
        )
        return tuple(row[len(prefix) :] for row in rows)

    return FeatureSpec(
        event_types=tuple(types),
        tags=top("tag:", MAX_TAGS),
        categories=top("category:", MAX_CATEGORIES),
        include_device=include_device,
    )


@dataclass
class CounterArrays:
    """Daily counter rows of a batch of profiles, as parallel arrays.

    ``series`` indexes ``event_types`` for whole-type rows (dimension "") and is
    ``len(event_types) + j`` for the page views of affinity column j (tags, then categories).
    """

    profile: np.ndarray  # int: position of the profile in the batch
    day: np.ndarray  # int: day index (days since 1970-01-01 UTC)
    series: np.ndarray  # int
    count: np.ndarray  # float
    value: np.ndarray  # float

    @classmethod
    def empty(cls) -> CounterArrays:
        z = np.zeros(0)
        return cls(z.astype(np.int64), z.astype(np.int64), z.astype(np.int64), z, z)


class SeriesIndex:
    """Maps (event type, dimension) to a series number for one or more specs (the union, so one
    read of the counters serves several models), plus page views, purchases and extra goals."""

    def __init__(self, *specs: FeatureSpec, extra_types: tuple[str, ...] = ()):
        types = [t for spec in specs for t in spec.event_types]
        self.types = list(dict.fromkeys([*types, VIEW, GOAL_DEFAULT, *extra_types]))
        self.type_index = {t: i for i, t in enumerate(self.types)}
        dims = [f"tag:{t}" for spec in specs for t in spec.tags]
        dims += [f"category:{c}" for spec in specs for c in spec.categories]
        dims = list(dict.fromkeys(dims))
        self.dimensions = dims
        self.dim_index = {d: len(self.types) + j for j, d in enumerate(dims)}

    def of(self, event_type: str, dimension: str) -> int:
        if not dimension:
            return self.type_index.get(event_type, -1)
        if event_type != VIEW:
            return -1
        return self.dim_index.get(dimension, -1)


def _window_sum(
    n: int, arrays: CounterArrays, mask: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    w = arrays.count if weights is None else weights
    return np.bincount(arrays.profile[mask], weights=w[mask], minlength=n)


def compute_features(
    spec: FeatureSpec,
    index: SeriesIndex,
    n: int,
    arrays: CounterArrays,
    as_of: datetime,
    devices: list[str] | None = None,
) -> np.ndarray:
    """An (n, len(spec.names())) matrix; NaN where a value is unknown (never active, never
    bought). Rows on or after ``as_of``'s day are ignored."""
    as_of_day = day_index(day_start(as_of))
    age = as_of_day - arrays.day
    valid = (age >= 1) & (age <= HORIZON_DAYS)
    n_types = len(index.types)
    whole = valid & (arrays.series < n_types)
    columns: list[np.ndarray] = []
    for w in WINDOWS:
        columns.append(np.log1p(_window_sum(n, arrays, whole & (age <= w))))
    for event_type in spec.event_types:
        is_type = whole & (arrays.series == index.type_index[event_type])
        for w in WINDOWS:
            columns.append(np.log1p(_window_sum(n, arrays, is_type & (age <= w))))

    # Distinct active days: one (profile, day) pair however many event types it saw.
    def active_days(window: int) -> np.ndarray:
        keep = whole & (age <= window)
        pairs = np.unique(arrays.profile[keep] * 100_000 + age[keep])
        return np.bincount(pairs // 100_000, minlength=n).astype(float)

    columns += [active_days(28), active_days(90)]
    last = np.full(n, np.inf)
    first = np.full(n, -np.inf)
    np.minimum.at(last, arrays.profile[whole], age[whole])
    np.maximum.at(first, arrays.profile[whole], age[whole])
    columns.append(np.where(np.isinf(last), np.nan, last))
    columns.append(np.where(np.isinf(first), np.nan, first))
    weekday = (arrays.day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    in90 = whole & (age <= 90)
    total90 = _window_sum(n, arrays, in90)
    weekend90 = _window_sum(n, arrays, in90 & (weekday >= 5))
    with np.errstate(invalid="ignore", divide="ignore"):
        columns.append(np.where(total90 > 0, weekend90 / np.maximum(total90, 1), np.nan))
    purchase = whole & (arrays.series == index.type_index[GOAL_DEFAULT]) & (age <= RFM_DAYS)
    columns.append(_window_sum(n, arrays, purchase))
    columns.append(np.log1p(_window_sum(n, arrays, purchase, arrays.value)))
    last_purchase = np.full(n, np.inf)
    np.minimum.at(last_purchase, arrays.profile[purchase], age[purchase])
    columns.append(np.where(np.isinf(last_purchase), np.nan, last_purchase))
    views90 = _window_sum(n, arrays, in90 & (arrays.series == index.type_index[VIEW]))
    dims = [f"tag:{t}" for t in spec.tags] + [f"category:{c}" for c in spec.categories]
    for dim in dims:
        series = valid & (arrays.series == index.dim_index[dim]) & (age <= 90)
        hits = _window_sum(n, arrays, series)
        columns.append(np.where(views90 > 0, hits / np.maximum(views90, 1), 0.0))
    if spec.include_device:
        kinds = devices or [""] * n
        for device in DEVICES:
            columns.append(np.array([1.0 if d == device else 0.0 for d in kinds]))
    matrix = np.column_stack(columns)
    if spec.only:
        every = spec.all_names()
        matrix = matrix[:, [every.index(name) for name in spec.names()]]
    return matrix


def goal_labels(
    index: SeriesIndex, n: int, arrays: CounterArrays, as_of: datetime, days: int, goal: str
) -> np.ndarray:
    """1 where the goal event happened in [as_of, as_of + days), from the same daily rows."""
    as_of_day = day_index(day_start(as_of))
    ahead = arrays.day - as_of_day
    if goal == "*":
        series = arrays.series < len(index.types)
    else:
        series = arrays.series == index.type_index[goal]
    hits = _window_sum(n, arrays, series & (ahead >= 0) & (ahead < days))
    return (hits > 0).astype(np.int8)


def active_before(n: int, arrays: CounterArrays, as_of: datetime) -> np.ndarray:
    """Which profiles of the batch did anything in the horizon before ``as_of`` (the others
    have nothing to judge: no persona, no score)."""
    age = day_index(day_start(as_of)) - arrays.day
    keep = (age >= 1) & (age <= HORIZON_DAYS)
    return np.bincount(arrays.profile[keep], minlength=n) > 0


@dataclass
class FeatureChunk:
    profile_ids: np.ndarray
    visitor_ids: list
    devices: list[str]
    arrays: CounterArrays
    extra: list[tuple] = field(default_factory=list)  # the ``extra_fields`` of each profile


def iter_feature_chunks(
    spec: FeatureSpec,
    *,
    until: datetime,
    since: datetime,
    chunk: int = CHUNK,
    index: SeriesIndex | None = None,
    profiles=None,
    extra_fields: tuple[str, ...] = (),
) -> Iterator[FeatureChunk]:
    """Profiles and their daily counter rows in [since, until), ``chunk`` profiles at a time:
    two queries per chunk (profiles by primary key range, with ``extra_fields``, then their
    counters)."""
    index = index or SeriesIndex(spec)
    wanted = Q(dimension="") | Q(event_type=VIEW, dimension__in=index.dimensions)
    base = profiles if profiles is not None else VisitorProfile.objects.all()
    last_pk = 0
    while True:
        rows = list(
            base.filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", "visitor_id", "device_type", *extra_fields)[:chunk]
        )
        if not rows:
            return
        last_pk = rows[-1][0]
        pks = np.array([r[0] for r in rows], dtype=np.int64)
        position = {pk: i for i, pk in enumerate(pks.tolist())}
        counters = ProfileCounter.objects.filter(
            wanted,
            profile_id__gte=rows[0][0],
            profile_id__lte=last_pk,
            granularity=Granularity.DAY,
            bucket__gte=since,
            bucket__lt=until,
        ).values_list("profile_id", "bucket", "event_type", "dimension", "count", "value")
        prof, day, series, count, value = [], [], [], [], []
        for profile_id, bucket, event_type, dimension, c, v in counters.iterator(chunk_size=20_000):
            s = index.of(event_type, dimension)
            at = position.get(profile_id)
            if s < 0 or at is None:
                continue
            prof.append(at)
            day.append((bucket - EPOCH).days)
            series.append(s)
            count.append(c)
            value.append(v)
        arrays = CounterArrays(
            np.array(prof, dtype=np.int64),
            np.array(day, dtype=np.int64),
            np.array(series, dtype=np.int64),
            np.array(count, dtype=float),
            np.array(value, dtype=float),
        )
        yield FeatureChunk(
            pks, [r[1] for r in rows], [r[2] for r in rows], arrays, [r[3:] for r in rows]
        )
        if len(rows) < chunk:
            return


def snapshot_arrays(snapshot: ProfileSnapshot, index: SeriesIndex) -> CounterArrays:
    """One visitor's daily series from their snapshot, in the bulk path's shape."""
    day, series, count, value = [], [], [], []
    for key, days in snapshot.daily.items():
        event_type, _, dimension = key.partition("|")
        s = index.of(event_type, dimension)
        if s < 0:
            continue
        for d, (c, v) in days.items():
            day.append(d)
            series.append(s)
            count.append(c)
            value.append(v)
    if not day:
        return CounterArrays.empty()
    return CounterArrays(
        np.zeros(len(day), dtype=np.int64),
        np.array(day, dtype=np.int64),
        np.array(series, dtype=np.int64),
        np.array(count, dtype=float),
        np.array(value, dtype=float),
    )


def snapshot_features(
    spec: FeatureSpec, snapshot: ProfileSnapshot, as_of: datetime
) -> np.ndarray | None:
    """The feature row of one visitor (1 x F), or None when they have no activity to judge."""
    index = SeriesIndex(spec)
    arrays = snapshot_arrays(snapshot, index)
    if not len(arrays.day):
        return None
    return compute_features(spec, index, 1, arrays, as_of, [snapshot.device_type])


def scoring_moment(now: datetime) -> datetime:
    """Features for serving include today: the next day's start is the cut-off."""
    return day_start(now) + timedelta(days=1)


def horizon_start(as_of: datetime) -> datetime:
    return day_start(as_of) - timedelta(days=HORIZON_DAYS)
