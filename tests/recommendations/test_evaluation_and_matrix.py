"""Metrics and splits worked by hand; the interaction matrix from events, worked by hand."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from personalization.events.models import Event
from personalization.recommendations.algorithms import Popularity
from personalization.recommendations.evaluation import (
    evaluate,
    random_split,
    ranking_metrics,
    time_split,
)
from personalization.recommendations.interactions import aggregate, collect

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_ranking_metrics_by_hand():
    # ranked a, b, c; relevant {b, d}; k = 3
    p, r, ndcg, ap, hit = ranking_metrics(["a", "b", "c"], {"b", "d"}, 3)
    assert p == pytest.approx(1 / 3)
    assert r == pytest.approx(1 / 2)
    dcg = 1 / math.log2(3)
    ideal = 1 + 1 / math.log2(3)  # min(3, 2) = 2 ideal hits
    assert ndcg == pytest.approx(dcg / ideal)
    assert ap == pytest.approx((1 / 2) / 2)
    assert hit == 1.0
    assert ranking_metrics(["x"], {"b"}, 1) == (0.0, 0.0, 0.0, 0.0, 0.0)


def test_time_split_holds_out_each_visitors_latest_fifth():
    # visitor 0: five interactions at t=5..1 (item i at time 5 - i); visitor 1: a single one
    users = [0, 0, 0, 0, 0, 1]
    items = [0, 1, 2, 3, 4, 0]
    ts = [5, 4, 3, 2, 1, 9]
    split = time_split(users, items, np.ones(6), ts, (2, 5))
    assert split.test == {0: [0]}  # the latest: item 0 at t=5
    assert sorted(split.train[0].indices) == [1, 2, 3, 4]
    assert list(split.train[1].indices) == [0]  # one interaction: nothing held out


def test_random_split_is_seeded_and_disjoint():
    rng = np.random.default_rng(3)
    users, items = rng.integers(0, 20, 400), rng.integers(0, 30, 400)
    a = random_split(users, items, np.ones(400), (20, 30), seed=5)
    b = random_split(users, items, np.ones(400), (20, 30), seed=5)
    assert {u: list(v) for u, v in a.test.items()} == {u: list(v) for u, v in b.test.items()}
    for u, held in a.test.items():
        assert not set(held) & set(a.train[u].indices)


def test_popularity_floor_evaluated_by_hand():
    # three visitors; item 0 is most popular in training. Visitor 2's test item is 0.
    users = [0, 0, 1, 1, 2, 2]
    items = [0, 1, 0, 2, 3, 0]
    ts = [1, 2, 1, 2, 1, 2]
    split = time_split(users, items, np.ones(6), ts, (3, 4))
    assert split.test == {0: [1], 1: [2], 2: [0]}
    metrics = evaluate(Popularity().fit(split.train), split, k=1)
    # train: v0 {0}, v1 {0}, v2 {3}. Top-1 after removing seen: v0 -> 3, v1 -> 3, v2 -> 0 (hit)
    assert metrics.hit_rate == pytest.approx(1 / 3)
    assert metrics.precision == pytest.approx(1 / 3)
    assert metrics.coverage == pytest.approx(2 / 4)


def test_aggregate_weights_dedups_decays_and_requires_support():
    a, b, c = (uuid.UUID(int=i) for i in (1, 2, 3))
    records = [
        (a, "p1", "page_view", 1.0, NOW),
        (a, "p1", "page_view", 1.0, NOW - timedelta(days=1)),  # repeat: counted once
        (a, "p1", "purchase", 8.0, NOW - timedelta(days=10)),  # half-life 10 days: 4.0
        (b, "p1", "page_view", 1.0, NOW - timedelta(days=20)),  # 0.25
        (b, "p2", "page_view", 1.0, NOW),  # p2 has one visitor: below support 2
        (c, "p2", "click", 2.0, NOW),  # ... no: two visitors (b, c)
        (c, "p3", "click", 2.0, NOW),  # p3 has one visitor: dropped
    ]
    data = aggregate(records, now=NOW, half_life_days=10, min_item_support=2)
    cells = {
        (data.visitors[r], data.items[i]): float(w)
        for r, i, w in zip(data.rows, data.cols, data.weights, strict=True)
    }
    assert cells == {
        (a, "p1"): pytest.approx(5.0),
        (b, "p1"): pytest.approx(0.25),
        (b, "p2"): pytest.approx(1.0),
        (c, "p2"): pytest.approx(2.0),
    }


@pytest.mark.django_db
def test_collect_reads_weighted_events_with_an_item_inside_the_window(settings):
    settings.PERSONALIZATION_INTERACTION_WEIGHTS = {"page_view": 1.0, "add_to_cart": 3.0}
    v = uuid.UUID(int=7)

    def event(key, type_, props, at):
        Event.objects.create(
            visitor_id=v, key=key, type=type_, properties=props, timestamp=at, received_at=at
        )

    event("1", "page_view", {"page_id": 5}, NOW - timedelta(days=1))
    event("2", "add_to_cart", {"page_id": 5, "sku": "X"}, NOW - timedelta(days=2))
    event("3", "page_view", {"item_id": "sku-9", "page_id": 6}, NOW)  # item_id wins
    event("4", "search", {"query": "x", "page_id": 5}, NOW)  # no weight: ignored
    event("5", "page_view", {"title": "no item"}, NOW)  # no item: ignored
    event("6", "page_view", {"page_id": 8}, NOW - timedelta(days=40))  # outside the window
    data = collect(now=NOW, window_days=30, half_life_days=None)
    cells = {data.items[i]: float(w) for i, w in zip(data.cols, data.weights, strict=True)}
    assert cells == {"5": 4.0, "sku-9": 1.0}
    assert data.visitors == [v]
