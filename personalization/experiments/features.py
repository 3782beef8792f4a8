"""The context vector a contextual bandit sees: from the request and the cached profile only."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

BASE_FEATURES = (
    "bias",
    "device_mobile",
    "device_tablet",
    "hour_night",
    "hour_morning",
    "hour_afternoon",
    "returning",
    "log_visits",
    "purchased",
)


def feature_names(segments: Sequence[str]) -> tuple[str, ...]:
    return BASE_FEATURES + tuple(f"segment:{slug}" for slug in segments)


def visitor_features(
    *,
    device: str,
    now: datetime,
    visit_count: int,
    purchase_count: int,
    segments: Sequence[str],
    feature_segments: Sequence[str],
) -> tuple[float, ...]:
    """Device, time of day (UTC quarters), visit and purchase counters, chosen memberships."""
    hour = now.hour
    return (
        1.0,
        float(device == "mobile"),
        float(device == "tablet"),
        float(hour < 6),
        float(6 <= hour < 12),
        float(12 <= hour < 18),
        float(visit_count > 1),
        math.log1p(max(visit_count, 0)) / 5.0,
        float(purchase_count > 0),
        *(float(slug in segments) for slug in feature_segments),
    )
