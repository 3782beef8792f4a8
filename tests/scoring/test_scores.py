"""Predictive scores: point-in-time training with a time-based split, metrics, scores on the
profile (API, score condition), and per-visitor explanations."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import connection

from personalization.profiles.identity import sign_visitor_id
from personalization.profiles.models import VisitorProfile
from personalization.scoring.models import ModelVersion
from personalization.segments.models import Segment, SegmentMembership
from personalization.segments.services import recompute_segment, save_segment
from personalization.tasks import train_models

from ..conftest import PROFILE_URL
from .helpers import NOW, TODAY, make_visitor, view, visitor_id

pytestmark = pytest.mark.django_db


def shoppers(n: int = 30, seed: int = 2) -> dict[str, list]:
    """Pricing readers buy often in the days after reading; news readers rarely buy."""
    rng = random.Random(seed)
    groups: dict[str, list] = {"pricing": [], "news": []}
    for group, tags, category, rate in (
        ("pricing", ["pricing", "startup"], "software", 0.6),
        ("news", ["ai", "devops"], "news", 0.08),
    ):
        for i in range(n):
            days: dict[int, list] = {}
            for ago in rng.sample(range(15, 60), 3):
                days[ago] = [view([rng.choice(tags)], category) for _ in range(rng.randint(1, 4))]
            for ago in (rng.randint(8, 14), rng.randint(1, 7)):  # the two label windows
                if rng.random() < 0.3:
                    continue  # churned in this window
                days.setdefault(ago, []).append(view([rng.choice(tags)], category))
                if rng.random() < rate:
                    days[ago].append(("purchase", {"value": 80}))
            groups[group].append(make_visitor(visitor_id(group, i), days))
    return groups


def sql_population(cutoff, label_end) -> tuple[int, int]:
    """Visitors active before the cut-off, and how many of them bought in [cut-off, label_end),
    straight from the counter table (not through the feature code)."""
    day = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(DISTINCT profile_id) FROM personalization_profilecounter "
            "WHERE granularity = 'd' AND dimension = '' AND bucket < %s",
            [day(cutoff)],
        )
        active = cursor.fetchone()[0]
        cursor.execute(
            "SELECT COUNT(DISTINCT c.profile_id) FROM personalization_profilecounter c "
            "WHERE c.granularity = 'd' AND c.dimension = '' AND c.event_type = 'purchase' "
            "AND c.bucket >= %s AND c.bucket < %s AND c.profile_id IN ("
            "  SELECT profile_id FROM personalization_profilecounter "
            "  WHERE granularity = 'd' AND dimension = '' AND bucket < %s)",
            [day(cutoff), day(label_end), day(cutoff)],
        )
        return active, cursor.fetchone()[0]


@pytest.fixture
def trained(settings):
    settings.PERSONALIZATION_SCORES = {
        "conversion": {"kind": "conversion", "goal": "purchase", "days": 7},
        "churn": {"kind": "churn", "days": 7},
    }
    groups = shoppers()
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=NOW):
        result = train_models(["conversion", "churn"])  # the Celery task, called as a function
    return groups, result


def test_conversion_is_trained_point_in_time_with_an_out_of_time_validation(trained):
    groups, result = trained
    assert result == {"conversion v1": "ready", "churn v1": "ready"}
    version = ModelVersion.objects.get(name="conversion")
    assert version.is_active
    m = version.metrics
    train_cut, valid_cut = TODAY - timedelta(days=14), TODAY - timedelta(days=7)
    assert m["train_cutoff"] == train_cut.isoformat()
    assert m["valid_cutoff"] == valid_cut.isoformat()
    n_train, pos_train = sql_population(train_cut, valid_cut)
    n_valid, pos_valid = sql_population(valid_cut, TODAY)
    assert m["n_train"] == n_train and m["n_valid"] == n_valid
    assert m["positive_rate_train"] == pytest.approx(pos_train / n_train, abs=1e-4)
    assert m["positive_rate_valid"] == pytest.approx(pos_valid / n_valid, abs=1e-4)
    assert 0 <= m["brier"] <= 1 and 0 <= m["pr_auc"] <= 1
    assert m["roc_auc"] > 0.8 and m["roc_auc"] > m["baseline"]["roc_auc"]
    assert m["baseline"]["features"] == ["days_since_active", "log_events_90d"]
    top = {row["feature"] for row in m["coefficients"][:4]}
    assert any(f.startswith("share_") for f in top)  # what they read is what predicts buying
    assert version.window_end == TODAY


def test_scores_are_on_profiles_in_the_api_and_in_the_score_condition(trained, client):
    groups, _result = trained
    stored = dict(VisitorProfile.objects.values_list("visitor_id", "predicted_scores"))
    for scores in stored.values():
        assert set(scores) == {"conversion", "churn"}
        assert all(isinstance(v, int) and 0 <= v <= 100 for v in scores.values())
    mean = {g: sum(stored[v]["conversion"] for v in ids) / len(ids) for g, ids in groups.items()}
    assert mean["pricing"] > mean["news"] + 20

    vid = groups["pricing"][0]
    body = client.get(PROFILE_URL, HTTP_X_VISITOR_ID=sign_visitor_id(vid)).json()
    assert body["predicted_scores"] == stored[vid]

    segment = save_segment(
        Segment(
            slug="likely",
            name="Likely",
            status=Segment.Status.ENABLED,
            rules={"type": "score", "params": {"name": "conversion", "op": "gt", "value": 50}},
        )
    )
    recompute_segment(segment)
    held = set(
        SegmentMembership.objects.filter(segment=segment).values_list("visitor_id", flat=True)
    )
    assert held == {v for v, s in stored.items() if s["conversion"] > 50}
    assert held  # not a vacuous comparison


def test_a_window_with_one_outcome_fails_the_version_and_keeps_the_active_one(settings):
    settings.PERSONALIZATION_SCORES = {"conversion": {"kind": "conversion", "days": 7}}
    for i in range(6):  # nobody ever buys
        make_visitor(visitor_id("nobuy", i), {20: [view(["ai"])], 10: [view(["ai"])]})
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=NOW):
        result = train_models(["conversion"])
    assert result == {"conversion v1": "failed"}
    version = ModelVersion.objects.get(name="conversion")
    assert "only one outcome" in version.error and not version.is_active
