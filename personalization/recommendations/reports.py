"""CTR of recommendations per model version and placement.

An impression is a list shown (``RecommendationImpression``); a click is a ``click`` event whose
``properties.decision_id`` names that list (the template include and the API's answer hand the id
to the tracker). CTR is lists clicked at least once / lists shown.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models.fields.json import KT
from django.utils import timezone

from ..events.models import Event
from .models import RecommendationImpression


def ctr_report(*, since: datetime | None = None, now: datetime | None = None) -> list[dict]:
    """Rows of {version, placement, impressions, clicks, ctr}, over the last 30 days by default.
    Two queries (impressions, then clicks in the same window)."""
    now = now or timezone.now()
    since = since or now - timedelta(days=30)
    shown = RecommendationImpression.objects.filter(created_at__gte=since, created_at__lte=now)
    groups: dict[tuple, set[str]] = defaultdict(set)
    for decision_id, version_id, placement in shown.values_list(
        "decision_id", "version_id", "placement"
    ).iterator(chunk_size=5000):
        groups[(version_id, placement)].add(str(decision_id))
    clicked = set(
        Event.objects.filter(type="click", timestamp__gte=since, properties__has_key="decision_id")
        .annotate(decision=KT("properties__decision_id"))
        .values_list("decision", flat=True)
    )
    rows = []
    for (version_id, placement), decisions in sorted(
        groups.items(), key=lambda kv: (-(kv[0][0] or 0), kv[0][1])
    ):
        clicks = len(decisions & clicked)
        rows.append(
            {
                "version": version_id,
                "placement": placement,
                "impressions": len(decisions),
                "clicks": clicks,
                "ctr": clicks / len(decisions) if decisions else 0.0,
            }
        )
    return rows
