"""Experiments in the Wagtail admin over HTTP: create from a snippet, power, lifecycle, results."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from personalization import tasks
from personalization.experiments.models import Experiment, Exposure
from personalization.variants.models import PersonalizedContent

from ..rendering.conftest import MOBILE_VARIANT, VIP_TEXT, VIP_VARIANT
from ..segments.test_admin import ANALYSTS, EDITORS, denied, staff_client

pytestmark = pytest.mark.django_db

INDEX = "/admin/personalization/experiments/"


def create_data(**overrides) -> dict:
    data = {
        "name": "Banner headline",
        "slug": "banner-headline",
        "hypothesis": "The VIP copy sells to everyone.",
        "traffic_percent": "50",
        "holdout_percent": "0",
        "policy": "fixed",
        "epsilon": "0.1",
        "min_share": "0.05",
        "warmup": "100",
        "linucb_alpha": "1",
        "baseline_rate": "0.1",
        "minimum_effect": "0.2",
        "alpha": "0.05",
        "power": "0.8",
        "arms": ["banner:", f"banner:{VIP_VARIANT}", f"banner:{MOBILE_VARIANT}"],
        "goal_event": "purchase",
        "goal_filters": "",
        "goal_value_property": "value",
        "secondary_event": "signup",
    }
    data.update(overrides)
    return data


def test_editor_creates_from_a_snippet_and_runs_it(banner):
    editor = staff_client("editor", EDITORS)
    form = editor.get(INDEX + "new/")
    assert form.status_code == 200 and f"banner:{VIP_VARIANT}" in form.content.decode()
    response = editor.post(INDEX + "new/", create_data())
    assert response.status_code == 302, response.context["form"].errors
    experiment = Experiment.objects.get(slug="banner-headline")
    arms = list(experiment.arms.values_list("key", "variants", "is_control"))
    assert arms == [
        ("a", {"banner": ""}, True),
        ("b", {"banner": VIP_VARIANT}, False),
        ("c", {"banner": MOBILE_VARIANT}, False),
    ]
    assert [(g.event_type, g.primary) for g in experiment.goals.all()] == [
        ("purchase", True),
        ("signup", False),
    ]
    results = editor.get(response["Location"])
    page = results.content.decode()
    # power for 10% -> 12%, alpha 0.05 split over two comparisons, power 0.8: computed with
    # the textbook formula in scipy
    from scipy.stats import norm

    p1, p2, a = 0.1, 0.12, 0.025
    pooled = (p1 + p2) / 2
    n = (
        norm.ppf(1 - a / 2) * (2 * pooled * (1 - pooled)) ** 0.5
        + norm.ppf(0.8) * (p1 * (1 - p1) + p2 * (1 - p2)) ** 0.5
    ) ** 2 / (p2 - p1) ** 2
    import math

    assert f"{math.ceil(n)} visitors per arm" in page
    assert "Start</button>" in page

    started = editor.post(f"{INDEX}lifecycle/{experiment.pk}/start/")
    assert started.status_code == 302
    experiment.refresh_from_db()
    assert experiment.status == "running"
    assert "Pause</button>" in editor.get(f"{INDEX}results/{experiment.pk}/").content.decode()
    # a second start is refused with a message, not a 500
    again = editor.post(f"{INDEX}lifecycle/{experiment.pk}/start/", follow=True)
    assert "cannot start" in again.content.decode()


def test_bad_input_is_a_form_error(banner):
    editor = staff_client("editor", EDITORS)
    one = editor.post(INDEX + "new/", create_data(arms=["banner:"]))
    assert "at least two" in str(one.context["form"].errors["arms"])
    bad = editor.post(INDEX + "new/", create_data(goal_filters="{not json"))
    assert "Not JSON" in str(bad.context["form"].errors["goal_filters"])
    nul = editor.post(INDEX + "new/", create_data(name="bad\x00name", traffic_percent="1e309"))
    assert nul.status_code == 200 and nul.context["form"].errors
    assert not Experiment.objects.exists()


def test_analysts_read_results_but_cannot_run_them_and_strangers_see_nothing(banner):
    from .conftest import make_experiment

    experiment = make_experiment()
    analyst = staff_client("analyst", ANALYSTS)
    assert analyst.get(f"{INDEX}results/{experiment.pk}/").status_code == 200
    assert denied(analyst.post(f"{INDEX}lifecycle/{experiment.pk}/pause/"))
    experiment.refresh_from_db()
    assert experiment.status == "running"
    stranger = staff_client("stranger")
    assert denied(stranger.get(f"{INDEX}results/{experiment.pk}/"))
    assert denied(stranger.get(INDEX))


def test_results_page_warns_about_sample_ratio_mismatch_and_draws_the_chart(banner):
    from .conftest import make_experiment

    experiment = make_experiment()
    now = timezone.now()
    rows = [
        Exposure(
            decision_id=uuid.uuid4(),
            experiment=experiment,
            arm=arm,
            visitor_id=uuid.uuid4(),
            placement="banner",
            propensity=0.5,
            created_at=now,
        )
        for arm, count in (("a", 500), ("b", 620))
        for _ in range(count)
    ]
    Exposure.objects.bulk_create(rows)
    editor = staff_client("editor", EDITORS)
    page = editor.get(f"{INDEX}results/{experiment.pk}/").content.decode()
    assert "Not counted yet" in page and "data-pz-srm" not in page  # read, not counted, per view
    tasks.compute_experiment_results()
    page = editor.get(f"{INDEX}results/{experiment.pk}/").content.decode()
    assert "Counts computed at" in page
    assert "data-pz-srm" in page  # chi-squared 12.9, p = 0.0003
    assert "<polyline" in page and "data-pz-allocation" in page


def test_completing_and_promoting_the_winner_changes_the_default(banner):
    from .conftest import make_experiment

    experiment = make_experiment()
    editor = staff_client("editor", EDITORS)
    editor.post(f"{INDEX}lifecycle/{experiment.pk}/complete/")
    response = editor.post(f"{INDEX}lifecycle/{experiment.pk}/promote/", {"arm": "b"})
    assert response.status_code == 302
    experiment.refresh_from_db()
    assert experiment.winner == "b"
    snippet = PersonalizedContent.objects.get(slug="banner")
    assert snippet.fallback[0].value == VIP_TEXT
    assert [e.action for e in experiment.log.order_by("pk")] == ["start", "complete", "promote"]


def test_editing_content_during_a_run_is_logged(banner):
    from .conftest import make_experiment

    experiment = make_experiment()
    banner.description = "edited while running"
    banner.save()
    assert experiment.log.filter(action="content_edited").count() == 1
