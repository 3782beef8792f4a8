"""The admin page (versions, metrics, activate, roll back, train) and CTR per version."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from personalization.events.models import Event
from personalization.recommendations.models import RecommendationImpression, RecommenderVersion
from personalization.recommendations.reports import ctr_report

from ..segments.test_admin import staff_client
from .conftest import NOW, train_now

URL = "/admin/personalization/recommendations/"
pytestmark = pytest.mark.django_db


def staff(username, *groups):
    return staff_client(username, *groups)


def test_editors_see_versions_with_metrics_and_can_activate_and_roll_back(history):
    train_now("--algorithm", "ease")
    train_now("--algorithm", "item_knn")
    first, second = RecommenderVersion.objects.order_by("pk")
    editor = staff("ed", "Personalization editors")
    page = editor.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert f"v{first.pk}" in html and "item_knn" in html
    assert str(second.metrics["time"]["model"]["ndcg@10"]) in html
    assert str(second.metrics["time"]["popularity"]["ndcg@10"]) in html
    response = editor.post(URL, {"action": "activate", "version": first.pk})
    assert response.status_code == 302
    assert RecommenderVersion.objects.get(is_active=True) == first
    editor.post(URL, {"action": "activate", "version": second.pk})
    editor.post(URL, {"action": "rollback"})
    assert RecommenderVersion.objects.get(is_active=True) == first
    for bad in ("abc", "999999", ""):
        assert editor.post(URL, {"action": "activate", "version": bad}).status_code == 302
    assert RecommenderVersion.objects.get(is_active=True) == first
    assert editor.post(URL, {"action": "nonsense"}).status_code == 302


def test_train_from_the_admin_runs_the_task(history, django_capture_on_commit_callbacks):
    editor = staff("ed", "Personalization editors")
    with django_capture_on_commit_callbacks(execute=True):
        editor.post(URL, {"action": "train"})
    version = RecommenderVersion.objects.get()
    assert version.status == "ready" and version.progress == 100


def test_analysts_read_but_do_not_change_and_strangers_see_nothing(history):
    train_now("--algorithm", "ease")
    train_now("--algorithm", "item_knn")
    active = RecommenderVersion.objects.get(is_active=True)
    analyst = staff("an", "Personalization analysts")
    page = analyst.get(URL)
    assert page.status_code == 200 and "Activate</button>" not in page.content.decode()
    denied = analyst.post(URL, {"action": "rollback"})  # Wagtail turns 403 into a redirect
    assert denied.status_code == 302 and denied.url == "/admin/"
    assert RecommenderVersion.objects.get(is_active=True) == active
    stranger = staff("nobody").get(URL)
    assert stranger.status_code == 302 and stranger.url == "/admin/"


def test_ctr_per_version_and_placement_counts_lists_clicked_by_decision_id(history):
    visitor = uuid.uuid4()
    rows = [
        (1, "home", True),
        (1, "home", False),
        (1, "home", False),
        (1, "article", True),
        (None, "home", False),
    ]
    decisions = []
    for version, placement, clicked in rows:
        decision = uuid.uuid4()
        RecommendationImpression.objects.create(
            decision_id=decision,
            visitor_id=visitor,
            placement=placement,
            version=RecommenderVersion.objects.get_or_create(pk=1, algorithm="ease")[0]
            if version
            else None,
            source="precomputed",
            items=["1"],
            created_at=NOW - timedelta(days=1),
        )
        decisions.append(decision)
        if clicked:
            for n in range(2):  # two clicks on one list count once
                Event.objects.create(
                    visitor_id=visitor,
                    key=f"c-{decision}-{n}",
                    type="click",
                    properties={"decision_id": str(decision)},
                    timestamp=NOW,
                    received_at=NOW,
                )
    report = {(r["version"], r["placement"]): r for r in ctr_report(now=NOW)}
    assert report[(1, "home")]["impressions"] == 3 and report[(1, "home")]["clicks"] == 1
    assert report[(1, "home")]["ctr"] == pytest.approx(1 / 3)
    assert report[(1, "article")]["ctr"] == 1.0
    assert report[(None, "home")]["clicks"] == 0
