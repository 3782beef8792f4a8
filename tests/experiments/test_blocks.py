"""Experiments on a ``PersonalizedBlock`` in a page's StreamField: the rendered page, the pages
API and the decide API agree on the arm, exposures name the block's placement, conversions are
attributed, edits are logged, and the shared page cache keeps one copy per arm.

The experiment runs on the block and on the ``banner`` snippet at once (one arm shows the
VIP variant on both), so the decide API, tested on its own, tells each visitor's arm."""

from __future__ import annotations

import json

import pytest

from personalization import tasks
from personalization.experiments.models import Arm, Conversion, Experiment, Exposure, Goal
from personalization.experiments.services import transition

from ..conftest import Visitor
from ..rendering.conftest import (  # noqa: F401 - fixtures
    FALLBACK_TEXT,
    VIP_TEXT,
    VIP_VARIANT,
    add_article,
    article,
    banner,
    home,
    segments,
)
from ..rendering.test_caching import page_cache  # noqa: F401 - fixture
from .conftest import decide

pytestmark = pytest.mark.django_db


def block_placement(page) -> str:
    page.refresh_from_db()
    child = next(c for c in page.body if c.block_type == "personalized")
    return f"page-{page.pk}-{child.id}"


def block_experiment(placement: str, **fields) -> Experiment:
    experiment = Experiment.objects.create(
        name="Block test", slug="block-test", placements=[placement, "banner"], **fields
    )
    Arm.objects.create(
        experiment=experiment,
        key="a",
        variants={placement: "", "banner": ""},
        is_control=True,
        sort_order=0,
    )
    Arm.objects.create(
        experiment=experiment,
        key="b",
        variants={placement: VIP_VARIANT, "banner": VIP_VARIANT},
        sort_order=1,
    )
    Goal.objects.create(experiment=experiment, name="Purchase", event_type="purchase", primary=True)
    return transition(experiment, "start")


def by_arm() -> dict[str, Visitor]:
    found: dict[str, Visitor] = {}
    for _ in range(60):
        v = Visitor()
        v.consent(analytics=True, personalization=True)
        arm = (decide(v)["placements"]["banner"]["experiment"] or {}).get("arm")
        if arm in ("a", "b"):
            found.setdefault(arm, v)
        if len(found) == 2:
            return found
    raise AssertionError("no visitor in each arm")


@pytest.fixture
def running(article, banner):  # noqa: F811
    placement = block_placement(article)
    return block_experiment(placement), placement


def test_the_page_shows_the_arm_and_logs_the_exposure(article, running):  # noqa: F811
    experiment, placement = running
    visitors = by_arm()
    Exposure.objects.all().delete()  # the decide calls' exposures: only the page's count below
    pages = {arm: v.client.get(article.url).content.decode() for arm, v in visitors.items()}
    # Neither visitor is VIP: without the experiment both would see the default content.
    assert FALLBACK_TEXT in pages["a"] and VIP_TEXT not in pages["a"]
    assert VIP_TEXT in pages["b"] and FALLBACK_TEXT not in pages["b"]
    tasks.flush_exposures()
    shown = Exposure.objects.filter(experiment=experiment, placement=placement)
    assert sorted(shown.values_list("arm", "visitor_id")) == sorted(
        (arm, v.id) for arm, v in visitors.items()
    )


def test_the_pages_api_makes_the_same_decision(article, running, client):  # noqa: F811
    experiment, placement = running
    visitors = by_arm()
    Exposure.objects.all().delete()
    url = f"/api/v2/pages/{article.pk}/?fields=body"
    blocks = {}
    for arm, v in visitors.items():
        response = client.get(url, HTTP_X_VISITOR_ID=v.token)  # a frontend's server
        assert response.status_code == 200
        body = response.json()["body"]
        blocks[arm] = next(b for b in body if b["type"] == "personalized")
    assert blocks["a"]["value"]["variant"] is None
    assert blocks["a"]["value"]["content"][0]["value"] == FALLBACK_TEXT
    assert blocks["b"]["value"]["variant"] == VIP_VARIANT
    assert blocks["b"]["value"]["content"][0]["value"] == VIP_TEXT
    assert VIP_TEXT not in json.dumps(blocks["a"]) and FALLBACK_TEXT not in json.dumps(blocks["b"])
    assert blocks["b"]["value"]["experiment"] == {"id": experiment.pk, "arm": "b"}
    tasks.flush_exposures()
    row = Exposure.objects.get(decision_id=blocks["b"]["value"]["decision_id"])
    assert (row.arm, row.placement, row.visitor_id) == ("b", placement, visitors["b"].id)


def test_a_purchase_after_the_page_converts_for_the_shown_arm(article, running):  # noqa: F811
    experiment, _placement = running
    visitors = by_arm()
    Exposure.objects.all().delete()
    visitors["b"].client.get(article.url)
    tasks.flush_exposures()
    response = visitors["b"].send_signed({"type": "purchase", "properties": {"value": 12}})
    assert response.json()["conversions"][0]["counted"] is True
    assert list(Conversion.objects.values_list("experiment_id", "arm")) == [(experiment.pk, "b")]


def test_the_placement_survives_a_new_revision_and_the_edit_is_logged(
    article,  # noqa: F811
    running,
):
    experiment, placement = running
    visitors = by_arm()
    body = article.body.raw_data
    for child in body:
        if child["type"] == "personalized":
            child["value"]["variants"][0]["value"]["content"][0]["value"] = "EDITED-VIP-OFFER"
    article.body = body
    article.save_revision().publish()
    assert block_placement(article) == placement
    assert "EDITED-VIP-OFFER" in visitors["b"].client.get(article.url).content.decode()
    edits = experiment.log.filter(action="content_edited")
    assert [e.details["placement"] for e in edits] == [placement]
    # A publish that leaves the block alone logs nothing.
    article.title = "Renamed"
    article.save_revision().publish()
    assert experiment.log.filter(action="content_edited").count() == 1


def test_without_a_running_experiment_segments_decide(article, banner):  # noqa: F811
    block_experiment(block_placement(article))
    Experiment.objects.update(status=Experiment.Status.PAUSED)
    transition(Experiment.objects.get(), "resume")
    transition(Experiment.objects.get(), "complete")
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    assert FALLBACK_TEXT in v.client.get(article.url).content.decode()
    assert not Exposure.objects.exists()


def test_a_shared_cache_keeps_one_copy_per_arm(page_cache, article, running):  # noqa: F811
    visitors = by_arm()
    copies = {}
    for arm, v in visitors.items():
        v.client.get(article.url)  # hands over the key, privately
        copies[arm] = v.client.get(article.url)
    assert VIP_TEXT in copies["b"].content.decode()
    assert VIP_TEXT not in copies["a"].content.decode()
    keys = {arm: c.headers["X-Personalization-Key"] for arm, c in copies.items()}
    assert keys["a"] != keys["b"]
