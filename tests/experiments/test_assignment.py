"""Sticky hash assignment: uniform, reproducible, stable when traffic ramps up."""

from __future__ import annotations

import uuid

import numpy as np
from scipy import stats as scipy_stats

from personalization.experiments.assignment import (
    HOLDOUT,
    CompiledArm,
    CompiledExperiment,
    assign,
    bucket,
    factorial_arms,
)


def experiment(**overrides) -> CompiledExperiment:
    fields = {
        "id": 7,
        "slug": "banner-test",
        "seed": "5eed",
        "placements": ("banner",),
        "arms": (
            CompiledArm("a", (("banner", ""),), is_control=True),
            CompiledArm("b", (("banner", "v1"),)),
            CompiledArm("c", (("banner", "v2"),)),
        ),
    }
    return CompiledExperiment(**{**fields, **overrides})


def ids(n: int, seed: int = 12345) -> list[uuid.UUID]:
    rng = np.random.default_rng(seed)
    return [uuid.UUID(bytes=bytes(rng.integers(0, 256, 16, dtype=np.uint8))) for _ in range(n)]


VISITORS = ids(100_000)


def test_arms_are_uniform_over_100000_visitors():
    counts = {"a": 0, "b": 0, "c": 0}
    for visitor_id in VISITORS:
        counts[assign(experiment(), visitor_id, ()).arm] += 1
    observed = list(counts.values())
    chi2, p = scipy_stats.chisquare(observed)
    assert p > 0.001, (observed, chi2)
    # and the raw bucket is uniform on [0, 1): Kolmogorov-Smirnov against U(0, 1)
    values = [bucket("5eed", v, "arm:0") for v in VISITORS[:20000]]
    assert scipy_stats.kstest(values, "uniform").pvalue > 0.001


def test_weights_give_the_intended_split():
    weighted = experiment(
        arms=(
            CompiledArm("a", (("banner", ""),), weight=1, is_control=True),
            CompiledArm("b", (("banner", "v1"),), weight=3),
        )
    )
    counts = {"a": 0, "b": 0}
    for visitor_id in VISITORS:
        counts[assign(weighted, visitor_id, ()).arm] += 1
    _, p = scipy_stats.chisquare([counts["a"], counts["b"]], [25_000, 75_000])
    assert p > 0.001, counts


def test_same_answer_every_time_and_different_per_seed():
    first = [assign(experiment(), v, ()).arm for v in VISITORS[:2000]]
    again = [assign(experiment(), v, ()).arm for v in VISITORS[:2000]]
    other_seed = [assign(experiment(seed="other"), v, ()).arm for v in VISITORS[:2000]]
    assert first == again
    agreement = sum(x == y for x, y in zip(first, other_seed, strict=True)) / 2000
    assert 0.28 < agreement < 0.39  # independent draws agree a third of the time


def test_ramping_traffic_up_never_moves_anyone():
    previous: dict[uuid.UUID, str] = {}
    for percent in (5, 10, 25, 50, 100):
        current = {}
        for visitor_id in VISITORS[:20000]:
            result = assign(experiment(traffic=percent / 100), visitor_id, ())
            if result is not None:
                current[visitor_id] = result.arm
        # everyone who was in stays in, in the same arm; the share matches the setting
        for visitor_id, arm in previous.items():
            assert current[visitor_id] == arm
        assert abs(len(current) / 20000 - percent / 100) < 0.01
        previous = current
    assert len(previous) == 20000


def test_holdout_sees_the_default_and_targeting_filters():
    held = experiment(holdout=0.2)
    results = [assign(held, v, ()) for v in VISITORS[:10000]]
    holdouts = [r for r in results if r.arm == HOLDOUT]
    assert abs(len(holdouts) / 10000 - 0.2) < 0.015
    assert all(r.variant_for("banner") == "" for r in holdouts)
    targeted = experiment(segments=("vip",))
    assert assign(targeted, VISITORS[0], ("mobile",)) is None
    assert assign(targeted, VISITORS[0], ("vip",)) is not None


def test_full_factorial_cells():
    cells = factorial_arms({"headline": ["h1", "h2"], "image": ["i1", "i2"], "cta": ["c1", "c2"]})
    assert len(cells) == 8
    assert len({tuple(sorted(c.items())) for c in cells}) == 8
    assert cells[0] == {"headline": "h1", "image": "i1", "cta": "c1"}
