"""Readable descriptions of personas from their centroids.

A centroid is described by its most distinguishing features: those whose cluster mean lies
furthest from the overall mean, in standard deviations (z). Interests come first ("readers of
security, enterprise"), then the device, then activity ("high frequency", "buyers", "lapsed").
"""

from __future__ import annotations

NOTABLE = 0.5  # standard deviations from the mean before a feature is worth naming
MAX_PARTS = 4


def _activity_phrase(feature: str, z: float) -> str | None:
    high = z > 0
    if feature.startswith("log_events_") or feature.startswith("active_days_"):
        return "high frequency" if high else "low frequency"
    if feature == "days_since_active":
        return "lapsed" if high else "recently active"
    if feature == "tenure_days":
        return "long-standing" if high else "new"
    if feature in {"purchases_365d", "log_monetary_365d"}:
        return "buyers" if high else None
    if feature == "days_since_purchase":
        return None
    if feature == "weekend_share_90d":
        return "weekend visitors" if high else "weekday visitors"
    if feature.startswith("log_"):
        event_type = feature[4:].rsplit("_", 1)[0].replace("_", " ")
        return f"many {event_type}s" if high else None
    return None


def describe_centroid(z: dict[str, float]) -> str:
    """E.g. "readers of security, enterprise; desktop; high frequency, buyers"."""
    ranked = sorted(z.items(), key=lambda kv: -abs(kv[1]))
    interests = [
        f.split("_", 2)[2]
        for f, v in ranked
        if f.startswith(("share_tag_", "share_category_")) and v > NOTABLE
    ][:3]
    devices = [f[len("device_") :] for f, v in ranked if f.startswith("device_") and v > NOTABLE]
    activity: list[str] = []
    for feature, value in ranked:
        if abs(value) < NOTABLE or len(activity) >= MAX_PARTS - 1:
            continue
        phrase = _activity_phrase(feature, value)
        if phrase and phrase not in activity:
            activity.append(phrase)
    parts = []
    if interests:
        parts.append("readers of " + ", ".join(interests))
    if devices:
        parts.append(devices[0])
    if activity:
        parts.append(", ".join(activity))
    return "; ".join(parts) or "average visitors"


def default_name(description: str) -> str:
    return description[:1].upper() + description[1:120]
