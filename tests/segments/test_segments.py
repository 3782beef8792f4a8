"""Segments through their public surfaces: services, API, command, real-time membership."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.utils import timezone

from personalization.segments.base import ConditionError
from personalization.segments.models import Segment, SegmentMembership, SegmentSizeHistory
from personalization.segments.services import (
    recompute_segment,
    recompute_time_dependent,
    save_segment,
)
from personalization.segments.tree import validate
from personalization.signals import segment_entered, segment_left

from ..conftest import IPHONE, Visitor

pytestmark = pytest.mark.django_db

READER = {
    "type": "event_count",
    "params": {
        "event": "page_view",
        "dimension": "tag:ai",
        "op": ">=",
        "value": 3,
        "within": {"amount": 24, "unit": "hours"},
    },
}


def segment(slug: str, rules: dict, **extra) -> Segment:
    return save_segment(
        Segment(name=slug.title(), slug=slug, rules=rules, status="enabled", **extra)
    )


def read_ai(v: Visitor, times: int, *, hours_ago: float = 0):
    ts = (timezone.now() - timedelta(hours=hours_ago)).isoformat()
    return v.send(
        *[
            {"type": "page_view", "timestamp": ts, "properties": {"tags": ["ai"], "page_id": i}}
            for i in range(times)
        ]
    )


def segments_of(v: Visitor, **headers) -> list[str]:
    response = v.client.get(
        f"/api/personalization/v1/visitors/{v.id}/segments", HTTP_X_VISITOR_ID=v.token, **headers
    )
    assert response.status_code == 200, response.content
    return response.json()["segments"]


@pytest.mark.parametrize(
    "rules, path",
    [
        ({"type": "teleport"}, "type"),
        (
            {"all": [READER, {"type": "event_count", "params": {"event": "x", "op": ">="}}]},
            "all[1].params.value",
        ),
        (
            {
                "any": [
                    {"not": {"type": "trait", "params": {"name": "t", "op": "regex", "value": "("}}}
                ]
            },
            "any[0].not.params.value",
        ),
        ({"all": [{"type": "visit_count", "params": {"op": "~", "value": 1}}]}, "all[0].params.op"),
        ({"all": {"type": "returning"}}, "all"),
        ({"all": [], "any": []}, ""),
        ({"type": "time_of_day", "params": {"from": "25:00", "to": "06:00"}}, "params.from"),
        (
            {"type": "event_count", "params": {"event": "x", "op": ">=", "value": "5"}},
            "params.value",
        ),
    ],
)
def test_invalid_trees_name_the_path(rules, path):
    with pytest.raises(ConditionError) as err:
        validate(rules)
    assert err.value.path == path


def test_cycles_and_unknown_references_are_rejected():
    segment("a", {"type": "returning", "params": {"value": True}})
    segment("b", {"type": "segment", "params": {"segment": "a"}})
    a = Segment.objects.get(slug="a")
    a.rules = {"type": "segment", "params": {"segment": "b"}}
    with pytest.raises(ConditionError, match="cycle"):
        save_segment(a)
    with pytest.raises(ConditionError, match="unknown segment"):
        segment("c", {"type": "segment", "params": {"segment": "nope"}})


def test_crossing_the_threshold_enters_the_segment_in_the_same_call():
    ai = segment("ai-readers", READER)
    entered = []
    segment_entered.connect(
        lambda sender, segment, visitor_ids, **kw: entered.extend(visitor_ids),
        weak=False,
        dispatch_uid="t-entered",
    )
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    read_ai(v, 2)
    assert not SegmentMembership.objects.filter(segment=ai).exists()
    assert segments_of(v) == []
    read_ai(v, 1)
    assert SegmentMembership.objects.filter(segment=ai, visitor_id=v.id).exists()
    assert segments_of(v) == ["ai-readers"]
    assert entered == [v.id]
    segment_entered.disconnect(dispatch_uid="t-entered")


def test_windows_slide_and_the_scheduled_recompute_removes_members():
    ai = segment("ai-readers", READER)
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    read_ai(v, 3, hours_ago=20)
    assert SegmentMembership.objects.filter(segment=ai).count() == 1
    left = []
    segment_left.connect(
        lambda sender, segment, visitor_ids, **kw: left.extend(visitor_ids),
        weak=False,
        dispatch_uid="t-left",
    )
    later = timezone.now() + timedelta(hours=5)
    result = recompute_time_dependent(now=later)
    segment_left.disconnect(dispatch_uid="t-left")
    assert result["ai-readers"] == {"entered": 0, "left": 1, "size": 0}
    assert left == [v.id]
    assert not SegmentMembership.objects.filter(segment=ai).exists()


def test_request_conditions_are_checked_live_and_membership_stores_the_profile_part():
    mobile_ai = segment(
        "mobile-ai", {"all": [READER, {"type": "device", "params": {"in": ["mobile"]}}]}
    )
    desktop = Visitor()
    desktop.consent(analytics=True, personalization=True)
    read_ai(desktop, 3)
    # The profile part holds, so the visitor is a member; on a desktop request they don't match.
    assert SegmentMembership.objects.filter(segment=mobile_ai).count() == 1
    assert segments_of(desktop) == []
    assert segments_of(desktop, HTTP_USER_AGENT=IPHONE) == ["mobile-ai"]


def zone_where_it_is(local_hour: int) -> str:
    """A fixed-offset zone where the local hour is now ``local_hour``. The Etc/GMT zones span
    UTC-12 to UTC+14, every hour of the day at any moment, so both hours the test needs exist
    whatever the clock says (Etc/GMT signs are inverted: Etc/GMT-3 is UTC+3)."""
    offset = (local_hour - timezone.now().hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def test_zone_where_it_is_finds_every_hour():
    from zoneinfo import ZoneInfo

    for hour in range(24):
        zone = zone_where_it_is(hour)
        assert timezone.now().astimezone(ZoneInfo(zone)).hour in (hour, (hour + 1) % 24)


def test_overnight_time_of_day_in_the_visitors_zone(visitor):
    segment(
        "night-owls",
        {"type": "time_of_day", "params": {"from": "22:00", "to": "06:00", "timezone": "visitor"}},
    )
    # 02:xx is night and 14:xx day even if the hour turns during the request (03:00 and 15:00
    # are still night and day), so the test checks both sides at any time it runs.
    for local_hour, expected in [(2, ["night-owls"]), (23, ["night-owls"]), (14, [])]:
        zone = zone_where_it_is(local_hour)
        response = visitor.client.get(
            f"/api/personalization/v1/visitors/{visitor.id}/segments",
            {"timezone": zone},  # encoded: the "+" of Etc/GMT+5 would arrive as a space
            HTTP_X_VISITOR_ID=visitor.token,
        )
        assert response.status_code == 200, response.content
        assert response.json()["segments"] == expected, (local_hour, zone)
    bad = visitor.client.get(
        f"/api/personalization/v1/visitors/{visitor.id}/segments?timezone=Mars/Base",
        HTTP_X_VISITOR_ID=visitor.token,
    )
    assert bad.status_code == 400 and "timezone" in bad.json()


def test_bulk_recompute_touches_only_changes_and_records_size(visitor):
    ai = segment("ai-readers", READER)
    others = []
    for _ in range(3):
        v = Visitor()
        v.consent(analytics=True, personalization=True)
        read_ai(v, 3)
        others.append(v)
    SegmentMembership.objects.filter(segment=ai, visitor_id=others[0].id).delete()
    first = recompute_segment(ai)
    assert first == {"entered": 1, "left": 0, "size": 3}
    again = recompute_segment(ai)
    assert again == {"entered": 0, "left": 0, "size": 3}
    assert SegmentSizeHistory.objects.get(segment=ai).size == 3
    ai.refresh_from_db()
    assert ai.member_count == 3 and ai.last_recomputed_at


def test_static_segment_is_frozen_until_recomputed():
    frozen = segment("launch-cohort", READER, kind="static")
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    read_ai(v, 3)
    assert segments_of(v) == []  # static: not kept live
    recompute_segment(frozen)
    assert segments_of(v) == ["launch-cohort"]
    frozen.refresh_from_db()
    assert frozen.frozen_at and frozen.progress == {}


def test_segments_referencing_segments_and_priority_order():
    segment("ai-readers", READER, priority=1)
    segment(
        "ai-on-mobile",
        {
            "all": [
                {"type": "segment", "params": {"segment": "ai-readers"}},
                {"type": "device", "params": {"in": ["mobile"]}},
            ]
        },
        priority=5,
    )
    v = Visitor(user_agent=IPHONE)
    v.consent(analytics=True, personalization=True)
    read_ai(v, 3)
    assert segments_of(v) == ["ai-on-mobile", "ai-readers"]


def test_a_segment_saved_outside_save_segment_takes_effect_at_once(visitor):
    """The Django admin, a data migration or the shell save with ``Segment.save()``: every
    process must drop its compiled definitions then too, not up to a minute later."""
    mobile = segment("on-the-go", {"type": "device", "params": {"in": ["mobile"]}})
    assert segments_of(visitor) == []  # a desktop browser; the definitions are now compiled
    mobile.rules = {"type": "device", "params": {"in": ["desktop"]}}
    mobile.save()
    assert segments_of(visitor) == ["on-the-go"]
    mobile.status = "disabled"
    mobile.save(update_fields=["status"])
    assert "on-the-go" not in segments_of(visitor)


def test_segment_list_api_says_which_conditions_are_stored_and_which_live(db):
    segment("mobile-ai", {"all": [READER, {"type": "device", "params": {"in": ["mobile"]}}]})
    save_segment(Segment(name="Draft", slug="draft", rules=READER))
    body = Visitor().client.get("/api/personalization/v1/segments").json()
    assert [s["slug"] for s in body] == ["mobile-ai"]
    assert body[0]["conditions"] == {"profile": ["event_count"], "request": ["device"]}


def test_visitor_segments_need_the_visitor_or_a_key(visitor, api_key):
    stranger = Visitor()
    stranger.consent(analytics=True)
    url = f"/api/personalization/v1/visitors/{visitor.id}/segments"
    assert stranger.client.get(url, HTTP_X_VISITOR_ID=stranger.token).status_code in (401, 403)
    server = Visitor().client.get(url + "?user_agent=x&country=DE", HTTP_AUTHORIZATION=api_key)
    assert server.status_code == 200
    bad = Visitor().client.get(url + "?country=Germany", HTTP_AUTHORIZATION=api_key)
    assert bad.status_code == 400 and "country" in bad.json()


def test_estimate_endpoint_for_editors(visitor):
    read_ai(visitor, 3)
    editor = get_user_model().objects.create_user("ed", password="pw-ed-12345")
    editor.groups.add(Group.objects.create(name="Personalization editors"))
    client = Visitor().client
    client.force_login(editor)
    ok = client.post("/api/personalization/v1/segments/estimate", {"rules": READER}, format="json")
    assert ok.status_code == 200 and ok.json() == {"size": 1}
    bad = client.post(
        "/api/personalization/v1/segments/estimate",
        {"rules": {"all": [{"type": "nope"}]}},
        format="json",
    )
    assert bad.status_code == 400 and "rules.all[0].type" in bad.json()
    anonymous = Visitor().client.post(
        "/api/personalization/v1/segments/estimate", {"rules": READER}, format="json"
    )
    assert anonymous.status_code in (401, 403)


def test_recompute_command(visitor):
    segment("ai-readers", READER)
    read_ai(visitor, 3)
    out = StringIO()
    call_command("recompute_segments", "--segment", "ai-readers", "--progress", stdout=out)
    assert "ai-readers: 1 members" in out.getvalue() and "step 2/2" in out.getvalue()
    with pytest.raises(CommandError, match="nope"):
        call_command("recompute_segments", "--segment", "nope")


def test_memberships_are_exported_and_erased(visitor):
    segment("ai-readers", READER)
    read_ai(visitor, 3)
    export = visitor.client.get(f"/api/personalization/v1/visitors/{visitor.id}/export").json()
    assert len(export["tables"]["personalization.SegmentMembership"]) == 1
    visitor.client.delete(f"/api/personalization/v1/visitors/{visitor.id}")
    assert not SegmentMembership.objects.exists()


def test_per_request_evaluation_costs_no_query_on_a_warm_cache(visitor, django_assert_num_queries):
    for i in range(50):
        rules = {
            "any": [
                {
                    "all": [
                        dict(READER, params={**READER["params"], "value": i % 5}),
                        {"type": "device", "params": {"in": ["desktop"]}},
                    ]
                },
                {"type": "trait", "params": {"name": "tier", "op": "equals", "value": f"t{i}"}},
            ]
        }
        segment(f"s{i}", rules)
    read_ai(visitor, 3)
    from personalization.segments.services import visitor_segments
    from personalization.types import RequestContext

    from ..conftest import DESKTOP

    context = RequestContext.from_user_agent(DESKTOP)
    visitor_segments(visitor.id, request=context)
    with django_assert_num_queries(0):
        found = visitor_segments(visitor.id, request=context)
    assert len(found) == 40  # value 0..3 of every 5 match 3 views


def test_a_condition_type_registered_through_the_hook_works_both_ways(visitor):
    from django.db.models import Q
    from wagtail import hooks

    from personalization.profiles.snapshot import get_snapshot
    from personalization.profiles.traits import set_traits
    from personalization.segments import registry
    from personalization.segments.base import Condition, EvalContext, QContext, param
    from personalization.segments.tree import compile_rules

    class LoyaltyPoints(Condition):
        type = "loyalty_points"
        label = "Loyalty points at least"

        def __init__(self, params):
            super().__init__(params)
            self.minimum = param(params, "minimum", (int,))

        def matches(self, ctx):
            return ctx.snapshot.traits.get("points", 0) >= self.minimum

        def to_q(self, ctx):
            return Q(traits__points__gte=self.minimum)

    set_traits(visitor.id, {"points": 120})
    registry.reset()
    with hooks.register_temporarily(
        "register_personalization_condition_types", lambda: [LoyaltyPoints]
    ):
        node = compile_rules({"type": "loyalty_points", "params": {"minimum": 100}})
        with pytest.raises(ConditionError):
            compile_rules({"type": "loyalty_points", "params": {"minimum": "many"}})
    registry.reset()
    now = timezone.now()
    assert node.matches(EvalContext(snapshot=get_snapshot(visitor.id), now=now))
    from personalization.profiles.models import VisitorProfile

    assert VisitorProfile.objects.filter(node.possible_q(QContext(now=now))).count() == 1


def test_login_merge_moves_memberships_to_the_merged_profile():
    from personalization.profiles.identity import merge_visitors

    ai = segment("ai-readers", READER)
    phone, laptop = Visitor(), Visitor()
    for v in (phone, laptop):
        v.consent(analytics=True, personalization=True)
    read_ai(phone, 2)
    laptop.send({"type": "signup"})
    read_ai(laptop, 1)
    assert not SegmentMembership.objects.filter(segment=ai).exists()
    merge_visitors(phone.id, laptop.id)
    members = list(
        SegmentMembership.objects.filter(segment=ai).values_list("visitor_id", flat=True)
    )
    assert members == [laptop.id]  # 2 + 1 views together cross the threshold


def test_a_dynamic_segment_can_build_on_a_frozen_static_one():
    cohort = segment("launch-cohort", READER, kind="static")
    early = Visitor()
    early.consent(analytics=True, personalization=True)
    read_ai(early, 3)
    recompute_segment(cohort)  # frozen now: early is in it
    segment(
        "cohort-returning",
        {
            "all": [
                {"type": "segment", "params": {"segment": "launch-cohort"}},
                {"type": "event_count", "params": {"event": "click", "op": ">=", "value": 1}},
            ]
        },
    )
    late = Visitor()
    late.consent(analytics=True, personalization=True)
    read_ai(late, 3)
    for v in (early, late):
        v.send({"type": "click"})
    members = set(
        SegmentMembership.objects.filter(segment__slug="cohort-returning").values_list(
            "visitor_id", flat=True
        )
    )
    assert members == {early.id}
    assert recompute_segment(Segment.objects.get(slug="cohort-returning"))["size"] == 1
    assert segments_of(early) == ["cohort-returning", "launch-cohort"]
    assert segments_of(late) == []


def test_visitors_without_an_id_are_in_no_random_sample(db):
    from personalization.segments.services import visitor_segments

    segment("half", {"type": "random_sample", "params": {"percent": 100}})
    assert visitor_segments(None) == []


def test_bulk_recompute_of_trait_and_score_conditions(visitor):
    from personalization.profiles.models import VisitorProfile
    from personalization.profiles.traits import set_traits

    set_traits(visitor.id, {"tier": "gold", "ltv": 120})
    VisitorProfile.objects.filter(visitor_id=visitor.id).update(predicted_scores={"churn": 0.8})
    gold = segment(
        "gold",
        {
            "all": [
                {"type": "trait", "params": {"name": "tier", "op": "equals", "value": "gold"}},
                {"type": "trait", "params": {"name": "ltv", "op": "gte", "value": 100}},
                {"type": "score", "params": {"name": "churn", "op": "gt", "value": 0.5}},
            ]
        },
    )
    SegmentMembership.objects.all().delete()
    assert recompute_segment(gold) == {"entered": 1, "left": 0, "size": 1}
    set_traits(visitor.id, {"tier": "silver"})
    assert not SegmentMembership.objects.filter(segment=gold).exists()  # left in real time
    set_traits(visitor.id, {"tier": "gold"})
    SegmentMembership.objects.all().delete()
    VisitorProfile.objects.filter(visitor_id=visitor.id).update(predicted_scores={"churn": 0.1})
    assert recompute_segment(gold)["size"] == 0


def _segments_at(v: Visitor, query: str) -> list[str]:
    """The visitor's segments on a request whose URL carries ``query``."""
    response = v.client.get(
        f"/api/personalization/v1/visitors/{v.id}/segments?{query}", HTTP_X_VISITOR_ID=v.token
    )
    assert response.status_code == 200, response.content
    return response.json()["segments"]


@pytest.mark.parametrize(
    "params, hits, misses",
    [
        # A rule stored before the match options: exact and case-sensitive, as it always was.
        ({"value": "spring"}, ["spring"], ["Spring", "spring-sale"]),
        ({"value": "spring", "match": "equals"}, ["spring"], ["Spring", "spring-sale"]),
        (
            {"value": "spring", "match": "equals", "ignore_case": True},
            ["spring", "Spring", "SPRING"],
            ["spring-sale"],
        ),
        ({"value": "spring", "match": "contains"}, ["spring-sale", "early-spring"], ["Spring"]),
        (
            {"value": "spring", "match": "starts_with", "ignore_case": True},
            ["spring-sale", "Spring-Sale", "spring"],
            ["early-spring", "summer"],
        ),
        ({}, ["spring", ""], []),  # no value: the parameter is present at all
    ],
)
def test_query_parameter_conditions_match_exactly_contains_starts_with_any_case(
    visitor, params, hits, misses
):
    segment("spring", {"type": "query_param", "params": {"name": "utm_campaign", **params}})
    for value in hits:
        assert _segments_at(visitor, f"utm_campaign={value}") == ["spring"], value
    for value in misses:
        assert _segments_at(visitor, f"utm_campaign={value}") == [], value
    assert _segments_at(visitor, "other=spring") == []


@pytest.mark.parametrize(
    "params, path",
    [
        ({"name": "utm_campaign", "value": "x", "match": "regex"}, "params.match"),
        ({"name": "utm_campaign", "value": "x", "ignore_case": "yes"}, "params.ignore_case"),
        ({"name": "utm_campaign", "match": "contains"}, "params.value"),
    ],
)
def test_query_parameter_match_options_are_validated(params, path):
    with pytest.raises(ConditionError) as caught:
        validate({"type": "query_param", "params": params})
    assert caught.value.path == path
