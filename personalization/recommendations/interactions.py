"""The interaction matrix: events and imported interactions, weighted, decayed, de-duplicated.

One cell per (visitor, item). Each event type counts once per cell however often it repeats
(ten views of a page are not ten times the signal of one), at its type's weight, decayed by the
age of its latest occurrence: ``weight x 0.5 ** (age_days / half_life)``; the cell is the sum
over types. Imported interactions add their own weight the same way. Items with fewer than
``MIN_ITEM_SUPPORT`` visitors and visitors with fewer than ``MIN_VISITOR_INTERACTIONS`` items are
left out of training (they are still served: visitors by folding in, items by content).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db.models import F
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from scipy import sparse

from ..conf import get_setting
from ..events.models import Event
from .models import Interaction

SECONDS_PER_DAY = 86400.0


@dataclass
class InteractionData:
    visitors: list[uuid.UUID]
    items: list[str]
    rows: np.ndarray  # per cell: visitor index
    cols: np.ndarray  # per cell: item index
    weights: np.ndarray
    timestamps: np.ndarray  # per cell: epoch seconds of the latest interaction
    start: datetime | None = None
    end: datetime | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.visitors), len(self.items)

    def matrix(self) -> sparse.csr_matrix:
        return sparse.csr_matrix(
            (self.weights, (self.rows, self.cols)), shape=self.shape, dtype=np.float32
        )

    def item_index(self) -> dict[str, int]:
        return {item: i for i, item in enumerate(self.items)}

    def visitor_index(self) -> dict[uuid.UUID, int]:
        return {v: i for i, v in enumerate(self.visitors)}


def aggregate(
    records: Iterable[tuple[uuid.UUID, str, str, float, datetime]],
    *,
    now: datetime,
    half_life_days: float | None,
    min_item_support: int = 1,
    min_visitor_interactions: int = 1,
) -> InteractionData:
    """Cells from (visitor, item, kind, weight, timestamp) records. ``kind`` de-duplicates:
    an event type, or a unique string for imported rows that must each count."""
    latest: dict[tuple[uuid.UUID, str, str], tuple[float, datetime]] = {}
    for visitor, item, kind, weight, timestamp in records:
        key = (visitor, item, kind)
        seen = latest.get(key)
        if seen is None or timestamp > seen[1]:
            latest[key] = (weight, timestamp)
    # Ages count from the newest interaction in the snapshot (``now`` at the latest): a site's
    # snapshot ends about now; an imported data set from 1998 is not decayed to nothing.
    reference = min([now, max((t for _, t in latest.values()), default=now)])
    cells: dict[tuple[uuid.UUID, str], list[float]] = {}
    for (visitor, item, _kind), (weight, timestamp) in latest.items():
        age_days = max(0.0, (reference - timestamp).total_seconds() / SECONDS_PER_DAY)
        decayed = weight * (0.5 ** (age_days / half_life_days) if half_life_days else 1.0)
        cell = cells.setdefault((visitor, item), [0.0, 0.0])
        cell[0] += decayed
        cell[1] = max(cell[1], timestamp.timestamp())
    # Minimum support, applied until stable (dropping items can drop visitors and back).
    while True:
        item_visitors: dict[str, int] = {}
        visitor_items: dict[uuid.UUID, int] = {}
        for visitor, item in cells:
            item_visitors[item] = item_visitors.get(item, 0) + 1
            visitor_items[visitor] = visitor_items.get(visitor, 0) + 1
        drop = [
            key
            for key in cells
            if item_visitors[key[1]] < min_item_support
            or visitor_items[key[0]] < min_visitor_interactions
        ]
        if not drop:
            break
        for key in drop:
            del cells[key]
    visitors = sorted({v for v, _ in cells}, key=str)
    items = sorted({i for _, i in cells})
    v_index = {v: n for n, v in enumerate(visitors)}
    i_index = {i: n for n, i in enumerate(items)}
    keys = list(cells)
    return InteractionData(
        visitors=visitors,
        items=items,
        rows=np.array([v_index[v] for v, _ in keys], dtype=np.int64),
        cols=np.array([i_index[i] for _, i in keys], dtype=np.int64),
        weights=np.array([cells[k][0] for k in keys], dtype=np.float32),
        timestamps=np.array([cells[k][1] for k in keys], dtype=np.float64),
    )


def _item_expression():
    properties = get_setting("INTERACTION_ITEM_PROPERTIES")
    transforms = [KT(f"properties__{name}") for name in properties]
    return Coalesce(*transforms) if len(transforms) > 1 else transforms[0]


def event_records(start: datetime | None, end: datetime, visitor_ids=None):
    """(visitor, item, event type, weight, timestamp) for weighted events with an item."""
    weights = get_setting("INTERACTION_WEIGHTS")
    events = Event.objects.filter(type__in=list(weights), timestamp__lte=end)
    if start is not None:
        events = events.filter(timestamp__gte=start)
    if visitor_ids is not None:
        events = events.filter(visitor_id__in=visitor_ids)
    rows = (
        events.annotate(item=_item_expression())
        .exclude(item=None)
        .exclude(item="")
        .values_list("visitor_id", "item", "type", "timestamp")
    )
    for visitor_id, item, event_type, timestamp in rows.iterator(chunk_size=5000):
        yield visitor_id, str(item)[:64], event_type, float(weights[event_type]), timestamp


def imported_records(start: datetime | None, end: datetime, visitor_ids=None):
    rows = Interaction.objects.filter(timestamp__lte=end)
    if start is not None:
        rows = rows.filter(timestamp__gte=start)
    if visitor_ids is not None:
        rows = rows.filter(visitor_id__in=visitor_ids)
    for visitor_id, item, weight, timestamp, pk in rows.values_list(
        "visitor_id", "item_id", "weight", "timestamp", F("pk")
    ).iterator(chunk_size=5000):
        yield visitor_id, item, f"import:{pk}", float(weight), timestamp


def collect(
    *,
    now: datetime,
    window_days: float | None = None,
    half_life_days: float | None = None,
    min_item_support: int | None = None,
    min_visitor_interactions: int | None = None,
) -> InteractionData:
    """The training snapshot: events and imported interactions in the window ending ``now``."""
    start = now - timedelta(days=window_days) if window_days else None

    def records():
        yield from event_records(start, now)
        yield from imported_records(start, now)

    data = aggregate(
        records(),
        now=now,
        half_life_days=half_life_days,
        min_item_support=min_item_support or 1,
        min_visitor_interactions=min_visitor_interactions or 1,
    )
    data.start, data.end = start, now
    return data


def recent_items(visitor_id: uuid.UUID, *, now: datetime, limit: int) -> dict[str, float]:
    """A visitor's latest weighted items (for scoring a visitor without a stored list):
    at most two queries, each bounded by ``limit``."""
    weights = get_setting("INTERACTION_WEIGHTS")
    half_life = get_setting("INTERACTION_HALF_LIFE_DAYS")
    records = []
    events = (
        Event.objects.filter(visitor_id=visitor_id, type__in=list(weights), timestamp__lte=now)
        .annotate(item=_item_expression())
        .exclude(item=None)
        .order_by("-timestamp")
        .values_list("visitor_id", "item", "type", "timestamp")[:limit]
    )
    for v, item, event_type, timestamp in events:
        records.append((v, str(item), event_type, float(weights[event_type]), timestamp))
    imported = Interaction.objects.filter(visitor_id=visitor_id).order_by("-timestamp")[:limit]
    for row in imported.values_list("visitor_id", "item_id", "weight", "timestamp", "pk"):
        records.append((row[0], row[1], f"import:{row[4]}", float(row[2]), row[3]))
    data = aggregate(records, now=now, half_life_days=half_life)
    return {data.items[c]: float(w) for c, w in zip(data.cols, data.weights, strict=True)}
