"""Realistic sizes for segments with per-request conditions, estimated from recent traffic.

Membership stores who *could* match (the profile part); device, time of day, referrer and the
other request conditions are only checked when a page is served. So "on a phone right now"
stores every consenting visitor. To show editors a size they can believe, the request part of a
rule tree is tried against a bounded sample of recent page views (their stored request context
and timestamp): the share of page views it lets through estimates the share of the stored
matches who see the segment on a given request.

    estimated size ≈ stored matches x share of recent page views passing the request part

It assumes the request part is independent of the profile part (mobile visitors are not more
likely to read AI articles), and it is a share of page views, not of visitors. It is a pure
function of stored data: one bounded query (the newest ``SAMPLE_SIZE`` page views of the last
``SAMPLE_DAYS`` days, through the ``(type, timestamp)`` index), the rest in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from ..events.models import Event
from ..profiles.snapshot import ProfileSnapshot
from ..types import RequestContext
from .base import REQUEST, EvalContext
from .tree import AnyOf, Leaf, Node, Not

SAMPLE_DAYS = 7
SAMPLE_SIZE = 2000
# What stored events do not say: whether the viewer was logged in, and in which groups. These
# conditions are left unknown (they may pass), so an estimate with them is an upper bound.
NOT_IN_EVENTS = frozenset({"logged_in", "user_group"})
# A schedule is about now, not about when past traffic came: checked against the clock.
CLOCK_NOW = frozenset({"date_range"})

_NOBODY = ProfileSnapshot(visitor_id=uuid.UUID(int=0))  # request conditions never read it


@dataclass(frozen=True)
class RecentRequest:
    """One sampled page view: its request context and when it happened."""

    request: RequestContext
    at: datetime


def recent_requests(*, now: datetime | None = None) -> list[RecentRequest]:
    """The newest page views of the last ``SAMPLE_DAYS`` days, at most ``SAMPLE_SIZE``: one
    query. Only page views with a stored request context count."""
    now = now or timezone.now()
    rows = (
        Event.objects.filter(
            type="page_view", timestamp__gte=now - timedelta(days=SAMPLE_DAYS), timestamp__lte=now
        )
        .exclude(context={})
        .order_by("-timestamp")
        .values_list("context", "timestamp")[:SAMPLE_SIZE]
    )
    sample = []
    fields = set(RequestContext.__dataclass_fields__) - {"user_agent", "dnt", "gpc", "is_bot"}
    for context, at in rows:
        if not isinstance(context, dict):
            continue
        known = {k: v for k, v in context.items() if k in fields and isinstance(v, str)}
        url = known.get("url", "")
        if not url and context.get("utm"):  # the url was cut; its UTM parameters were kept
            utm = context["utm"]
            if isinstance(utm, dict):
                url = "/?" + "&".join(f"{k}={v}" for k, v in utm.items())
        known["url"] = url
        sample.append(RecentRequest(RequestContext(**known), at))
    return sample


def request_types(node: Node) -> list[str]:
    """The request condition types in a tree, in order, each once."""
    return list(
        dict.fromkeys(leaf.type for leaf in node.leaves() if leaf.kind == REQUEST)  # type: ignore[attr-defined]
    )


def _passes(node: Node, ctx: EvalContext, now: datetime) -> tuple[bool, bool]:
    """(possible, certain) for one request, the profile part unknown: a profile condition may
    or may not hold, a request condition is decided by the sampled request."""
    if isinstance(node, Leaf):
        condition = node.condition
        if condition.kind != REQUEST or condition.type in NOT_IN_EVENTS:
            return True, False
        if condition.type in CLOCK_NOW:
            ctx = EvalContext(snapshot=ctx.snapshot, now=now, request=ctx.request)
        hit = condition.matches(ctx)
        return hit, hit
    if isinstance(node, Not):
        possible, certain = _passes(node.child, ctx, now)
        return not certain, not possible
    results = [_passes(child, ctx, now) for child in node.children]  # type: ignore[attr-defined]
    if isinstance(node, AnyOf):
        return any(p for p, _ in results), any(c for _, c in results)
    return all(p for p, _ in results), all(c for _, c in results)


def request_share(
    nodes: Sequence[Node],
    sample: Iterable[RecentRequest],
    *,
    match_all: bool = False,
    now: datetime | None = None,
) -> float | None:
    """The share of sampled page views on which the request part of the trees lets a visitor
    through (any of the trees, or all of them with ``match_all``). ``None`` without a sample."""
    now = now or timezone.now()
    seen = passed = 0
    for item in sample:
        ctx = EvalContext(snapshot=_NOBODY, now=item.at, request=item.request)
        hits = (_passes(node, ctx, now)[0] for node in nodes)
        passed += all(hits) if match_all else any(hits)
        seen += 1
    return passed / seen if seen else None


def has_request_part(node: Node) -> bool:
    return any(leaf.kind == REQUEST for leaf in node.leaves())


def estimate(node: Node, stored: int, *, sample: list[RecentRequest] | None = None) -> dict:
    """What the admin shows for a segment: the stored matches, the request condition types,
    and, when the rules have a request part and there is recent traffic, the share of recent
    page views passing it and the estimated size."""
    types = request_types(node)
    result = {
        "stored": stored,
        "request_types": types,
        "share": None,
        "estimated": stored,
        "sample": 0,
        "upper_bound": bool(set(types) & NOT_IN_EVENTS),
    }
    if not types:
        return result
    sample = recent_requests() if sample is None else sample
    share = request_share([node], sample)
    result["sample"] = len(sample)
    if share is not None:
        result["share"] = share
        result["estimated"] = round(stored * share)
    return result


def describe(result: dict, labels: dict[str, str]) -> str:
    """One sentence for editors: "1,778 stored matches; Device type and Local time of day are
    checked per request: 31% of the 2,000 latest page views pass them, so ≈ 551 visitors"."""
    stored = result["stored"]
    text = f"{stored:,} stored match{'es' if stored != 1 else ''}"
    types = result["request_types"]
    if not types:
        return f"≈ {stored:,} visitor{'s' if stored != 1 else ''}"
    names = [labels.get(t, t) for t in types]
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    text += f"; {joined} {'is' if len(names) == 1 else 'are'} checked per request"
    if result["share"] is None:
        return text + " (no page views in the last 7 days to estimate them from)"
    percent = 100 * result["share"]
    shown = f"{percent:.1f}" if 0 < percent < 10 else f"{percent:.0f}"
    text += (
        f": {shown}% of the {result['sample']:,} latest page views (last {SAMPLE_DAYS} days) "
        f"pass {'it' if len(names) == 1 else 'them'}, so ≈ {result['estimated']:,} "
        f"visitor{'s' if result['estimated'] != 1 else ''}"
    )
    if result["upper_bound"]:
        text += " at most (logged-in status and groups are not in the events: assumed to pass)"
    return text
