"""Every profile condition type, evaluated both ways over the same random profiles, agrees:
the in-memory predicate (per request) and the database filter (bulk recompute, counts)."""

from __future__ import annotations

import random
import uuid
import zlib
from datetime import timedelta

import pytest
from django.utils import timezone

from personalization.consent.services import record_consent
from personalization.ingestion import ingest_events
from personalization.profiles.models import VisitorProfile
from personalization.profiles.snapshot import get_snapshot
from personalization.profiles.traits import set_traits
from personalization.segments.base import EvalContext, QContext
from personalization.segments.registry import condition_types
from personalization.segments.tree import compile_rules
from personalization.types import EventIn, RequestContext

pytestmark = pytest.mark.django_db

TAGS = ["ai", "security", "pricing", "devops"]
EVENTS = ["page_view", "click", "purchase", "search"]
TIERS = ["gold", "silver", "Bronze", "gold-plus", "platinum"]


def make_profiles(rng: random.Random, n: int = 30) -> list[uuid.UUID]:
    now = timezone.now()
    ids = []
    for i in range(n):
        vid = uuid.UUID(int=rng.getrandbits(128), version=4)
        record_consent(
            vid,
            {
                "analytics": True,
                "personalization": True,
                "marketing": rng.random() < 0.5,
            },
        )
        events = []
        for _ in range(rng.randint(0, 25)):
            kind = rng.choice(EVENTS)
            props = {"tags": rng.sample(TAGS, rng.randint(0, 2)), "page_id": rng.randint(1, 4)}
            if kind == "purchase":
                props["value"] = round(rng.uniform(1, 200), 2)
            if kind == "search":
                props["query"] = "q"
            minutes = rng.choice(
                [rng.uniform(0, 120), rng.uniform(0, 60 * 48), rng.uniform(0, 60 * 24 * 25)]
            )
            events.append(EventIn(kind, now - timedelta(minutes=minutes), props))
        if events:
            ingest_events(vid, events, RequestContext())
        traits = {}
        if rng.random() < 0.7:
            traits["tier"] = rng.choice(TIERS)
        if rng.random() < 0.6:
            traits["ltv"] = rng.choice([0, 5, 12.5, 99, 150])
        if rng.random() < 0.3:
            traits["ltv_text"] = rng.choice(["12", "abc"])
        if rng.random() < 0.5:
            traits["signup_date"] = rng.choice(["2025-01-05", "2026-03-01", "2026-11-01"])
        if traits:
            set_traits(vid, traits, require_consent=False)
        if i % 3 == 0:
            VisitorProfile.objects.filter(visitor_id=vid).update(
                persona=rng.choice(["explorer", "buyer"]),
                predicted_scores={"churn": rng.random()},
            )
        ids.append(vid)
    return ids


def random_params(rng: random.Random, type_name: str) -> dict:
    window = rng.choice(
        [
            None,
            {"amount": rng.randint(1, 48), "unit": "hours"},
            {"amount": rng.randint(1, 30), "unit": "days"},
            {"amount": 90, "unit": "hours"},
        ]
    )
    op = rng.choice([">=", "<=", "==", ">", "<", "between"])
    if type_name in {"event_count", "value_sum"}:
        value = rng.randint(0, 6) if type_name == "event_count" else rng.choice([0, 50, 120.5])
        params = {
            "event": rng.choice(EVENTS),
            "dimension": rng.choice(["", "tag:ai", "tag:pricing", "page:2"]),
            "op": op,
            "value": value,
            "within": window,
        }
        if op == "between":
            params["value2"] = value + rng.randint(0, 5)
        return params
    if type_name in {"first_seen", "last_seen"}:
        if rng.random() < 0.5:
            return {"op": "within", "within": window or {"amount": 3, "unit": "days"}}
        day = (timezone.now() - timedelta(days=rng.randint(0, 20))).date().isoformat()
        return {"op": rng.choice(["before", "after"]), "date": day}
    if type_name == "visit_count":
        params = {"op": op, "value": rng.randint(0, 4)}
        if op == "between":
            params["value2"] = params["value"] + 2
        return params
    if type_name == "returning":
        return {"value": rng.random() < 0.5}
    if type_name == "trait":
        op = rng.choice(
            [
                "equals",
                "not_equals",
                "in",
                "contains",
                "starts_with",
                "ends_with",
                "regex",
                "gt",
                "gte",
                "lt",
                "lte",
                "date_before",
                "date_after",
                "exists",
                "missing",
            ]
        )
        name = rng.choice(["tier", "ltv", "ltv_text", "signup_date", "nothing"])
        value = {
            "equals": rng.choice(["gold", 12.5, 99, "12"]),
            "not_equals": rng.choice(["gold", 5]),
            "in": [rng.choice(TIERS), rng.choice([150, "abc"])],
            "contains": rng.choice(["old", "b", "B"]),
            "starts_with": rng.choice(["gold", "B", "b"]),
            "ends_with": rng.choice(["plus", "ze", "2"]),
            "regex": rng.choice(["^g.*d$", "[0-9]+", "ronze"]),
            "gt": rng.choice([0, 10, 99]),
            "gte": 12.5,
            "lt": 100,
            "lte": 5,
            "date_before": "2026-02-01",
            "date_after": "2026-02-01",
        }.get(op)
        params = {"name": name, "op": op}
        if value is not None:
            params["value"] = value
        return params
    if type_name == "score":
        return {"name": "churn", "op": rng.choice(["gt", "lt", "exists", "missing"]), "value": 0.5}
    if type_name == "persona":
        return {"in": rng.sample(["explorer", "buyer", "nobody"], 2)}
    if type_name == "consent":
        return {
            "purpose": rng.choice(["marketing", "analytics", "personalization"]),
            "granted": rng.random() < 0.5,
        }
    if type_name == "random_sample":
        return {"percent": rng.choice([0, 10, 50, 100])}
    raise AssertionError(f"no generator for {type_name}")


PROFILE_TYPES = sorted(
    name for name, cls in condition_types().items() if cls.kind == "profile" and name != "segment"
)


def test_generators_cover_every_profile_condition_type():
    rng = random.Random(1)
    for name in PROFILE_TYPES:
        compile_rules({"type": name, "params": random_params(rng, name)})


@pytest.mark.parametrize("type_name", PROFILE_TYPES)
def test_predicate_and_query_agree(type_name):
    rng = random.Random(zlib.crc32(type_name.encode()))  # fixed per type, unlike hash()
    ids = make_profiles(rng)
    now = timezone.now()
    # Only stored profiles can be counted in SQL; a visitor with nothing stored is judged per
    # request (and may well match "has not purchased").
    snapshots = {vid: s for vid in ids if (s := get_snapshot(vid)).exists}
    assert len(snapshots) > 15
    for _ in range(12):
        params = random_params(rng, type_name)
        node = compile_rules({"type": type_name, "params": params})
        in_memory = {
            vid
            for vid, snap in snapshots.items()
            if node.matches(EvalContext(snapshot=snap, now=now, segment_slug="s"))
        }
        q = node.possible_q(QContext(now=now, segment_slug="s"))
        in_sql = set(
            VisitorProfile.objects.filter(q, visitor_id__in=ids).values_list(
                "visitor_id", flat=True
            )
        )
        assert in_memory == in_sql, (type_name, params)


def test_combinators_agree_and_negation_is_exact():
    rng = random.Random(7)
    ids = make_profiles(rng, 25)
    now = timezone.now()
    rules = {
        "any": [
            {
                "all": [
                    {
                        "type": "event_count",
                        "params": {"event": "page_view", "op": ">=", "value": 2},
                    },
                    {
                        "not": {
                            "type": "trait",
                            "params": {"name": "tier", "op": "equals", "value": "gold"},
                        }
                    },
                ]
            },
            {
                "not": {
                    "any": [
                        {"type": "visit_count", "params": {"op": "<=", "value": 1}},
                        {"type": "persona", "params": {"in": ["buyer"]}},
                    ]
                }
            },
        ]
    }
    node = compile_rules(rules)
    expected = {
        vid
        for vid in ids
        if (snap := get_snapshot(vid)).exists and node.matches(EvalContext(snapshot=snap, now=now))
    }
    q = node.possible_q(QContext(now=now))
    got = set(
        VisitorProfile.objects.filter(q, visitor_id__in=ids).values_list("visitor_id", flat=True)
    )
    assert expected == got
    # Profile conditions only: "matches in every request" is the same set as "in some request".
    certain = set(
        VisitorProfile.objects.filter(
            node.certain_q(QContext(now=now)), visitor_id__in=ids
        ).values_list("visitor_id", flat=True)
    )
    assert certain == expected


def _verdicts(node, ids, now):
    """Per stored profile: does the tree match a mobile request, and a desktop one."""
    requests = [RequestContext(device_type="mobile"), RequestContext(device_type="desktop")]
    return {
        vid: [node.matches(EvalContext(snapshot=snap, now=now, request=r)) for r in requests]
        for vid in ids
        if (snap := get_snapshot(vid)).exists
    }


def _selected(q, ids):
    rows = VisitorProfile.objects.filter(q, visitor_id__in=ids)
    return set(rows.values_list("visitor_id", flat=True))


MOBILE = {"type": "device", "params": {"in": ["mobile"]}}
VIEWED_TWICE = {"type": "event_count", "params": {"event": "page_view", "op": ">=", "value": 2}}
ONE_VISIT = {"type": "visit_count", "params": {"op": "<=", "value": 1}}


def test_a_request_condition_splits_possible_from_certain():
    """With a request condition in the tree, ``possible_q`` holds the profiles that match in some
    request and ``certain_q`` those that match in every one, through negations (a ``not`` turns
    one into the other). Expected sets come from ``matches`` over both kinds of request."""
    rng = random.Random(11)
    ids = make_profiles(rng, 25)
    now = timezone.now()
    node = compile_rules(
        {
            "any": [
                {"all": [VIEWED_TWICE, {"not": MOBILE}]},
                {"not": {"any": [ONE_VISIT, {"type": "persona", "params": {"in": ["buyer"]}}]}},
            ]
        }
    )
    verdicts = _verdicts(node, ids, now)
    some = {vid for vid, seen in verdicts.items() if any(seen)}
    every = {vid for vid, seen in verdicts.items() if all(seen)}
    assert every and some - every  # the profiles really split both ways
    assert _selected(node.possible_q(QContext(now=now)), ids) == some
    assert _selected(node.certain_q(QContext(now=now)), ids) == every


def test_a_request_condition_used_twice_keeps_both_filters_safe():
    """Each request condition is judged on its own, so a tree using one twice, both ways, gets
    filters that are safe rather than exact: ``certain_q`` may leave out a profile that matches
    in every request (here: the two branches cover mobile and desktop between them), never
    include one that does not; ``possible_q`` never leaves out one that matches in some."""
    rng = random.Random(11)
    ids = make_profiles(rng, 25)
    now = timezone.now()
    node = compile_rules(
        {
            "any": [
                {"all": [VIEWED_TWICE, {"not": MOBILE}]},
                {"all": [MOBILE, {"not": ONE_VISIT}]},
            ]
        }
    )
    verdicts = _verdicts(node, ids, now)
    some = {vid for vid, seen in verdicts.items() if any(seen)}
    every = {vid for vid, seen in verdicts.items() if all(seen)}
    assert every and some - every
    assert _selected(node.certain_q(QContext(now=now)), ids) <= every
    assert _selected(node.possible_q(QContext(now=now)), ids) >= some
