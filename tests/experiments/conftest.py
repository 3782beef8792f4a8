"""An experiment on the rendering tests' banner: arm "a" shows the default, arm "b" the VIP
variant; purchases are the primary goal (with revenue), a signup form a secondary one."""

from __future__ import annotations

import json

import pytest

from personalization.experiments.models import Arm, Experiment, Goal
from personalization.experiments.services import transition

from ..conftest import Visitor
from ..rendering.conftest import (  # noqa: F401 - fixtures
    VIP_VARIANT,
    banner,
    home,
    segments,
)

DECIDE_URL = "/api/personalization/v1/decide"


def make_experiment(placement: str = "banner", *, start: bool = True, **fields) -> Experiment:
    experiment = Experiment.objects.create(
        name="Banner test", slug=f"{placement}-test", placements=[placement], **fields
    )
    Arm.objects.create(
        experiment=experiment, key="a", variants={placement: ""}, is_control=True, sort_order=0
    )
    Arm.objects.create(
        experiment=experiment, key="b", variants={placement: VIP_VARIANT}, sort_order=1
    )
    Goal.objects.create(
        experiment=experiment,
        name="Purchase",
        event_type="purchase",
        primary=True,
        value_property="value",
    )
    Goal.objects.create(
        experiment=experiment,
        name="Signup form",
        event_type="form_submit",
        filters={"form": "signup"},
    )
    if start:
        experiment = transition(experiment, "start")
    return experiment


@pytest.fixture
def experiment(banner) -> Experiment:  # noqa: F811
    return make_experiment()


def decide(visitor: Visitor, placements=("banner",)) -> dict:
    response = visitor.client.post(
        DECIDE_URL,
        json.dumps({"placements": list(placements)}),
        content_type="application/json",
        HTTP_X_VISITOR_ID=visitor.token,
    )
    assert response.status_code == 200, response.content
    return response.json()


def visitors_by_arm(decide_placement: str = "banner", wanted=("a", "b")) -> dict[str, Visitor]:
    """Consented visitors until there is one in each wanted arm (ids are random; ~2 each)."""
    found: dict[str, Visitor] = {}
    for _ in range(60):
        v = Visitor()
        v.consent(analytics=True, personalization=True)
        arm = decide(v, (decide_placement,))["placements"][decide_placement]["experiment"]
        key = arm["arm"] if arm else None
        if key in wanted and key not in found:
            found[key] = v
        if len(found) == len(wanted):
            return found
    raise AssertionError("no visitor in every arm")
