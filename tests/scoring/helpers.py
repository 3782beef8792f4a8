"""Visitors with a known history, written through consent, ingestion and folding, at fixed
moments (nothing here reads the wall clock)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from personalization.consent.services import record_consent
from personalization.ingestion import ingest_events
from personalization.profiles.folding import fold_visitor
from personalization.types import EventIn, RequestContext

# Noon on a Monday; day buckets are UTC days.
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
TODAY = datetime(2026, 11, 2, tzinfo=UTC)

ALLOW = {"necessary": True, "analytics": True, "personalization": True, "marketing": False}


def visitor_id(group: str, n: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"scoring-test/{group}/{n}")


def view(tags: list[str], category: str = "news", page_id: int = 1) -> tuple[str, dict]:
    return "page_view", {"tags": tags, "category": category, "page_id": page_id}


def make_visitor(
    vid: uuid.UUID,
    days: dict[int, list[tuple[str, dict]]],
    *,
    device: str = "desktop",
    now: datetime = NOW,
) -> uuid.UUID:
    """``days`` maps "days before TODAY" (1 = yesterday, 0 = today, -3 = in three days) to the
    events of that day, stamped at 10:00 plus a minute each."""
    record_consent(vid, ALLOW, source="test")
    events = []
    for ago, items in days.items():
        base = TODAY - timedelta(days=ago) + timedelta(hours=10)
        for i, (event_type, props) in enumerate(items):
            events.append(
                EventIn(event_type, base + timedelta(minutes=i), props, f"{vid.hex[:8]}-{ago}-{i}")
            )
    ingest_events(vid, events, RequestContext(device_type=device), now=now, fold=False)
    fold_visitor(vid, now=now)
    return vid


def build_groups(groups: dict, per_group: int = 12, seed: int = 5) -> dict[str, list[uuid.UUID]]:
    """Visitors of known latent groups: {group: (tags, category, device, buys)}. Each visitor
    is active on 3-5 random days of the last 60, viewing 2-4 of the group's pages per day."""
    import random

    rng = random.Random(seed)
    members: dict[str, list[uuid.UUID]] = {}
    for group, (tags, category, device, buys) in groups.items():
        for n in range(per_group):
            days: dict[int, list] = {}
            for ago in rng.sample(range(1, 60), rng.randint(3, 5)):
                days[ago] = [view([rng.choice(tags)], category) for _ in range(rng.randint(2, 4))]
                if buys:
                    days[ago].append(("purchase", {"value": 50}))
            members.setdefault(group, []).append(
                make_visitor(visitor_id(group, n), days, device=device)
            )
    return members


GROUPS = {
    "security": (["security", "enterprise"], "case-studies", "desktop", False),
    "pricing": (["pricing", "startup"], "opinion", "mobile", False),
    "devops": (["devops", "ai"], "guides", "desktop", True),
}
