"""Features from daily counters: hand-worked values, no leakage past the cut-off, the real-time
path equal to the bulk path, and two queries per chunk of profiles."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from personalization.profiles.models import VisitorProfile
from personalization.profiles.snapshot import build_snapshot
from personalization.scoring.features import FeatureSpec, iter_feature_chunks, snapshot_features
from personalization.scoring.training import load_matrix

from .helpers import TODAY, make_visitor, view, visitor_id

pytestmark = pytest.mark.django_db

SPEC = FeatureSpec(
    event_types=("page_view", "search", "purchase"),
    tags=("security", "pricing", "enterprise"),
    categories=("news", "guides"),
    include_device=True,
)


def history() -> dict:
    return {
        0: [view(["pricing"])],  # today: after the cut-off of TODAY
        1: [view(["security"]), view(["security"]), ("purchase", {"value": 30})],  # a Sunday
        10: [view(["security", "enterprise"], "guides"), ("search", {"query": "sso"})],  # Friday
        40: [view(["pricing"])],  # a Wednesday
        200: [view(["ai"])],
    }


def features_of(vid, as_of, spec=SPEC) -> dict[str, float]:
    data = load_matrix(spec, [as_of], until=TODAY + timedelta(days=30))
    pks = data["pks"].tolist()
    row = data["features"][0][pks.index(VisitorProfile.objects.get(visitor_id=vid).pk)]
    return dict(zip(spec.names(), row.tolist(), strict=True))


def test_features_match_a_hand_worked_example():
    vid = make_visitor(visitor_id("hand", 1), history())
    f = features_of(vid, TODAY)
    expected = {
        # 7 days: yesterday's 2 views + 1 purchase; 28: + 2 on day 10; 90: + 1 on day 40.
        "log_events_7d": math.log1p(3),
        "log_events_28d": math.log1p(5),
        "log_events_90d": math.log1p(6),
        "log_page_view_7d": math.log1p(2),
        "log_page_view_28d": math.log1p(3),
        "log_page_view_90d": math.log1p(4),
        "log_search_7d": 0.0,
        "log_search_28d": math.log1p(1),
        "log_purchase_90d": math.log1p(1),
        "active_days_28d": 2,
        "active_days_90d": 3,
        "days_since_active": 1,
        "tenure_days": 200,
        "weekend_share_90d": 3 / 6,  # Sunday's three of six events
        "purchases_365d": 1,
        "log_monetary_365d": math.log1p(30),
        "days_since_purchase": 1,
        "share_tag_security": 3 / 4,  # of 4 page views in 90 days
        "share_tag_pricing": 1 / 4,
        "share_tag_enterprise": 1 / 4,
        "share_category_news": 3 / 4,
        "share_category_guides": 1 / 4,
        "device_desktop": 1,
        "device_mobile": 0,
        "device_tablet": 0,
    }
    for name, value in expected.items():
        assert f[name] == pytest.approx(value, rel=1e-5), name


def test_unknowns_are_missing_not_zero():
    vid = make_visitor(visitor_id("hand", 2), {3: [view(["pricing"])]})
    f = features_of(vid, TODAY)
    assert math.isnan(f["days_since_purchase"])
    assert f["purchases_365d"] == 0
    before = features_of(vid, TODAY - timedelta(days=3))  # nothing before that day
    assert math.isnan(before["days_since_active"]) and before["log_events_90d"] == 0


def test_events_after_the_cut_off_change_no_training_feature():
    """Point in time: features as of a cut-off read only days before it. Events on the cut-off
    day and after it (folded into the same profile, changing its all-time counts) leave every
    feature as it was, while the label (a purchase within 7 days) sees them."""
    vid = make_visitor(visitor_id("leak", 1), history())
    cutoff = TODAY - timedelta(days=14)
    first = load_matrix(SPEC, [cutoff], until=TODAY, goals=[("purchase", 7)])
    events_before = VisitorProfile.objects.get(visitor_id=vid).event_count
    make_visitor(
        vid,
        {
            14: [view(["enterprise"], "guides"), ("purchase", {"value": 900})],  # the cut-off day
            5: [view(["security"])] * 5 + [("search", {"query": "audit"})],
        },
    )
    assert VisitorProfile.objects.get(visitor_id=vid).event_count == events_before + 8
    second = load_matrix(SPEC, [cutoff], until=TODAY, goals=[("purchase", 7)])
    np.testing.assert_array_equal(first["features"][0], second["features"][0])
    assert first["labels"][0][0].tolist() == [0]
    assert second["labels"][0][0].tolist() == [1]


def test_the_real_time_path_computes_what_the_bulk_path_does():
    vid = make_visitor(visitor_id("rt", 1), history(), device="mobile")
    bulk = features_of(vid, TODAY)
    single = snapshot_features(SPEC, build_snapshot(vid), TODAY)
    assert single is not None
    assert dict(zip(SPEC.names(), single[0].tolist(), strict=True)) == pytest.approx(
        bulk, nan_ok=True
    )


def test_two_queries_per_chunk_of_profiles(django_assert_num_queries):
    for n in range(5):
        make_visitor(visitor_id("chunks", n), {2: [view(["security"])], 9: [view(["pricing"])]})
    # Chunks of 2: [2, 2, 1] profiles, each read with one query for profiles and one for their
    # counters; the short last chunk ends the loop without another query.
    with django_assert_num_queries(6):
        chunks = list(
            iter_feature_chunks(SPEC, until=TODAY, since=TODAY - timedelta(days=400), chunk=2)
        )
    assert [len(c.profile_ids) for c in chunks] == [2, 2, 1]
    assert sum(len(c.arrays.day) for c in chunks) == 5 * 2 * 3  # (view, tag, category) x 2 days
