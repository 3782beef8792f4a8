"""Creating an experiment from a page's personalized block in the Wagtail admin: the button in
the page's header, the block picker, the arms (default content + each variant)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from personalization.experiments.models import Experiment

from ..rendering.conftest import (  # noqa: F401 - fixtures
    MOBILE_VARIANT,
    VIP_VARIANT,
    article,
    home,
    segments,
)
from ..segments.test_admin import EDITORS, denied, staff_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_() -> Client:
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "x")
    client = Client()
    client.force_login(user)
    return client


def placement_of(page) -> str:
    page.refresh_from_db()
    child = next(c for c in page.body if c.block_type == "personalized")
    return f"page-{page.pk}-{child.id}"


def test_editor_creates_an_experiment_from_a_block(admin_client_, article):  # noqa: F811
    url = f"/admin/personalization/experiments/from-page/{article.pk}/"
    header = admin_client_.get(f"/admin/pages/{article.pk}/edit/").content.decode()
    assert url in header  # the page's header offers it
    picker = admin_client_.get(url)
    assert picker.status_code == 200
    placement = placement_of(article)
    block_id = placement.split("-", 2)[2]
    assert block_id in picker.content.decode()
    assert "Vip-Only-Offer, Mobile-Only-Tip" in picker.content.decode()

    response = admin_client_.post(
        url, {"block": block_id, "name": "Offer block", "goal_event": "purchase"}
    )
    assert response.status_code == 302
    experiment = Experiment.objects.get()
    assert experiment.placements == [placement]
    assert experiment.status == Experiment.Status.DRAFT
    arms = list(experiment.arms.values_list("key", "variants", "is_control"))
    assert arms == [
        ("a", {placement: ""}, True),
        ("b", {placement: VIP_VARIANT}, False),
        ("c", {placement: MOBILE_VARIANT}, False),
    ]
    assert [(g.event_type, g.primary) for g in experiment.goals.all()] == [("purchase", True)]
    assert experiment.log.get().action == "created"

    again = admin_client_.post(
        url, {"block": block_id, "name": "Offer block", "goal_event": "purchase"}
    )
    assert again.status_code == 400 and "already runs on this block" in again.content.decode()
    bogus = admin_client_.post(url, {"block": "nope", "name": "X", "goal_event": "purchase"})
    assert bogus.status_code == 400 and "block" in bogus.context["form"].errors
    assert Experiment.objects.count() == 1


def test_pages_without_personalized_blocks_offer_no_button(admin_client_, home):  # noqa: F811
    header = admin_client_.get(f"/admin/pages/{home.pk}/edit/").content.decode()
    assert "experiments/from-page/" not in header
    picker = admin_client_.get(f"/admin/personalization/experiments/from-page/{home.pk}/")
    assert "no personalized blocks" in picker.content.decode()


def test_who_may_not_create_experiments_or_edit_the_page_is_refused(article):  # noqa: F811
    url = f"/admin/personalization/experiments/from-page/{article.pk}/"
    assert denied(staff_client("stranger").get(url))
    # An experiment editor without edit rights on the page does not see its blocks either.
    assert denied(staff_client("editor", EDITORS).get(url))
    assert denied(staff_client("editor2", EDITORS).post(url, {"block": "x"}))
    assert not Experiment.objects.exists()
