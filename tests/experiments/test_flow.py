"""Experiments through public surfaces: decide, events, results API, erasure, login."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from personalization import tasks
from personalization.experiments.models import Conversion, Exposure
from personalization.experiments.services import LifecycleError, transition

from ..conftest import Visitor
from ..rendering.conftest import FALLBACK_TEXT, VIP_TEXT
from ..test_privacy import rows_mentioning
from .conftest import decide, make_experiment, visitors_by_arm

pytestmark = pytest.mark.django_db

RESULTS = "/api/personalization/v1/experiments/{}/results"


def purchase(visitor: Visitor, value: float, decision_id: str | None = None, **extra):
    properties = {"value": value, **({"decision_id": decision_id} if decision_id else {})}
    # A purchase comes from the shop's server: the browser relays it with its signature.
    response = visitor.send_signed({"type": "purchase", "properties": properties, **extra})
    assert response.status_code == 202, response.content
    return response.json()


def test_decide_shows_the_arm_and_logs_exposure_with_propensity(experiment):
    by_arm = visitors_by_arm()
    answer_a = decide(by_arm["a"])["placements"]["banner"]
    answer_b = decide(by_arm["b"])["placements"]["banner"]
    # Neither visitor is VIP: without the experiment both would see the default.
    assert answer_a["content"][0]["value"] == FALLBACK_TEXT
    assert answer_b["content"][0]["value"] == VIP_TEXT
    assert answer_b["experiment"] == {
        "id": experiment.pk,
        "arm": "b",
        "propensity": 0.5,
        "policy_version": 0,
    }
    tasks.flush_exposures()
    row = Exposure.objects.get(decision_id=answer_b["decision_id"])
    assert (row.arm, row.visitor_id, row.propensity) == ("b", by_arm["b"].id, 0.5)
    # the same visitor keeps the arm on every call
    assert all(
        decide(by_arm["b"])["placements"]["banner"]["experiment"]["arm"] == "b" for _ in "xyz"
    )


def test_conversions_count_once_after_exposure_while_running(experiment):
    by_arm = visitors_by_arm()
    shown = decide(by_arm["b"])["placements"]["banner"]
    tasks.flush_exposures()
    primary, secondary = experiment.goals.order_by("-primary", "pk")

    first = purchase(by_arm["b"], 30, shown["decision_id"])
    assert first["conversions"] == [
        {"experiment": experiment.pk, "goal": primary.pk, "counted": True, "reason": ""}
    ]
    again = purchase(by_arm["b"], 12)  # a second purchase: the goal counts visitors once
    assert again["conversions"][0]["reason"] == "already_counted"
    # a form that is not the signup form is no goal; the signup form is
    assert (
        by_arm["b"]
        .send({"type": "form_submit", "properties": {"form": "news"}})
        .json()["conversions"]
        == []
    )
    signup = by_arm["b"].send({"type": "form_submit", "properties": {"form": "signup"}}).json()
    assert signup["conversions"][0]["goal"] == secondary.pk and signup["conversions"][0]["counted"]

    # an event from before the exposure does not count
    early = (timezone.now() - datetime.timedelta(hours=1)).isoformat()
    late = purchase(by_arm["a"], 5, timestamp=early)
    assert late["conversions"] == [
        {
            "experiment": experiment.pk,
            "goal": primary.pk,
            "counted": False,
            "reason": "before_exposure",
        }
    ]
    # a visitor never exposed makes no conversion at all
    stranger = Visitor()
    stranger.consent(analytics=True, personalization=True)
    assert purchase(stranger, 99)["conversions"] == []

    with connection.cursor() as cursor:  # raw SQL, not the ORM the code uses
        cursor.execute(
            "SELECT arm, value FROM personalization_conversion WHERE goal_id = %s", [primary.pk]
        )
        assert cursor.fetchall() == [("b", 30.0)]


def test_paused_and_completed_experiments_ignore_conversions_and_say_so(experiment):
    by_arm = visitors_by_arm()
    decide(by_arm["a"])
    tasks.flush_exposures()
    transition(experiment, "pause")
    assert purchase(by_arm["a"], 10)["conversions"][0]["reason"] == "experiment_paused"
    with pytest.raises(LifecycleError):
        transition(experiment, "pause")
    transition(experiment, "resume")
    transition(experiment, "complete")
    assert purchase(by_arm["b"], 10, timestamp=None)["conversions"][0]["reason"] == (
        "experiment_completed"
    )
    assert not Conversion.objects.exists()
    with pytest.raises(LifecycleError):
        transition(experiment, "start")
    assert [e.action for e in experiment.log.order_by("pk")] == [
        "start",
        "pause",
        "resume",
        "complete",
    ]


def test_draft_experiments_assign_nobody(banner):
    make_experiment(start=False)
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    assert decide(v)["placements"]["banner"]["experiment"] is None


def test_login_keeps_the_arm(experiment, client):
    by_arm = visitors_by_arm()
    for arm, visitor in by_arm.items():
        user = get_user_model().objects.create_user(f"user-{arm}", password="pw-12345")
        visitor.client.cookies["pz_vid"] = visitor.token
        visitor.client.force_login(user)
        after = visitor.client.post(
            "/api/personalization/v1/decide", {"placements": ["banner"]}, format="json"
        ).json()
        assert after["placements"]["banner"]["experiment"]["arm"] == arm


def test_results_api_for_analysts_only(experiment, settings):
    settings.PERSONALIZATION_API_KEYS = {"analytics": "s3cret"}
    by_arm = visitors_by_arm()
    for v in by_arm.values():
        decide(v)
    tasks.flush_exposures()
    purchase(by_arm["b"], 20)
    tasks.compute_experiment_results()
    url = RESULTS.format(experiment.pk)
    assert by_arm["a"].client.get(url).status_code in (401, 403)
    response = by_arm["a"].client.get(url, HTTP_AUTHORIZATION="Api-Key s3cret")
    assert response.status_code == 200
    body = response.json()
    goal = body["goals"][0]
    rows = {row["arm"]: row for row in goal["arms"]}
    exposed_sql = _sql_exposed(experiment.pk)
    assert {arm: rows[arm]["exposed"] for arm in rows} == exposed_sql
    assert rows["b"]["converted"] == 1 and rows["a"]["converted"] == 0
    assert rows["b"]["verdict"] == "not_yet_conclusive"
    assert body["srm"]["mismatch"] is False
    assert body["series"][-1]["arms"]["b"]["converted"] == 1
    assert (
        by_arm["a"]
        .client.get(RESULTS.format(999999), HTTP_AUTHORIZATION="Api-Key s3cret")
        .status_code
        == 404
    )
    answer = by_arm["a"].client.get(RESULTS.format(10**20), HTTP_AUTHORIZATION="Api-Key s3cret")
    assert answer.status_code == 404  # past a bigint: no such experiment, not a database error
    for bad in ("x", "-1", "1.5"):
        answer = by_arm["a"].client.get(RESULTS.format(bad), HTTP_AUTHORIZATION="Api-Key s3cret")
        assert answer.status_code == 400
        assert list(answer.json()) == ["experiment_id"]

    analyst = get_user_model().objects.create_user("ana", password="pw-12345")
    analyst.groups.add(Group.objects.get_or_create(name="Personalization analysts")[0])
    staff = Visitor()
    staff.client.force_login(analyst)
    assert staff.client.get(url).status_code == 200


def _sql_exposed(experiment_id: int) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT arm, COUNT(DISTINCT visitor_id) FROM personalization_exposure "
            "WHERE experiment_id = %s GROUP BY arm",
            [experiment_id],
        )
        return dict(cursor.fetchall())


def test_erasure_and_export_cover_exposures_and_conversions(experiment):
    by_arm = visitors_by_arm()
    for v in by_arm.values():
        decide(v)
    tasks.flush_exposures()
    purchase(by_arm["b"], 20)
    purchase(by_arm["a"], 20)
    victim = by_arm["b"]
    export = victim.client.get(f"/api/personalization/v1/visitors/{victim.id}/export").json()
    assert len(export["tables"]["personalization.Exposure"]) >= 1
    assert len(export["tables"]["personalization.Conversion"]) == 1
    assert victim.client.delete(f"/api/personalization/v1/visitors/{victim.id}").status_code == 200
    assert rows_mentioning({victim.id}) == []
    assert Conversion.objects.filter(visitor_id=by_arm["a"].id).exists()


def test_unknown_decision_id_is_harmless(experiment):
    by_arm = visitors_by_arm()
    tasks.flush_exposures()
    answer = purchase(by_arm["a"], 5, str(uuid.uuid4()))
    assert answer["conversions"][0]["counted"] is True  # attributed through the assignment


def test_another_visitors_decision_id_never_moves_a_conversion_to_their_arm(experiment):
    by_arm = visitors_by_arm()
    foreign = decide(by_arm["a"])["placements"]["banner"]["decision_id"]
    decide(by_arm["b"])
    tasks.flush_exposures()
    answer = purchase(by_arm["b"], 40, foreign)  # b replays a's decision id
    assert answer["conversions"][0]["counted"] is True
    assert Conversion.objects.get(visitor_id=by_arm["b"].id).arm == "b"
    assert not Conversion.objects.filter(visitor_id=by_arm["a"].id).exists()


def test_a_merged_visitor_takes_the_surviving_profiles_arm(experiment):
    from personalization.profiles.identity import merge_visitors

    by_arm = visitors_by_arm()
    by_arm["a"].send({"type": "page_view"})
    by_arm["b"].send({"type": "page_view"})  # both have profiles
    merge_visitors(by_arm["a"].id, by_arm["b"].id)  # e.g. the same user on a second device
    answer = decide(by_arm["a"])["placements"]["banner"]
    assert answer["experiment"]["arm"] == "b"
    tasks.flush_exposures()
    assert Exposure.objects.get(decision_id=answer["decision_id"]).visitor_id == by_arm["b"].id


def test_default_audience_only_leaves_targeted_variants_alone(banner):
    from personalization.profiles.traits import set_traits

    experiment = make_experiment(default_audience_only=True)
    by_arm = visitors_by_arm()
    set_traits(by_arm["a"].id, {"tier": "vip"})  # now the VIP variant targets this visitor
    targeted = decide(by_arm["a"])["placements"]["banner"]
    assert targeted["experiment"] is None and targeted["content"][0]["value"] == VIP_TEXT
    other = decide(by_arm["b"])["placements"]["banner"]
    assert other["experiment"]["arm"] == "b"
    tasks.flush_exposures()
    assert not Exposure.objects.filter(decision_id=targeted["decision_id"]).exists()
    assert Exposure.objects.filter(experiment=experiment, decision_id=other["decision_id"]).exists()
