"""Bandit policies, the beat task that recomputes them, and off-policy estimators."""

from __future__ import annotations

import datetime
import uuid

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from scipy import integrate
from scipy import stats as sp

from personalization import tasks
from personalization.experiments import offpolicy
from personalization.experiments.bandits import update_bandits
from personalization.experiments.models import Conversion, Exposure
from personalization.experiments.policies import (
    LinUCB,
    epsilon_greedy_weights,
    linucb_probabilities,
    thompson_weights,
)

from .conftest import decide, make_experiment, visitors_by_arm


def test_thompson_weights_are_probabilities_of_being_best():
    a, b = sp.beta(1 + 10, 1 + 90), sp.beta(1 + 16, 1 + 84)
    b_best, _ = integrate.quad(lambda p: b.pdf(p) * a.cdf(p), 0, 1)
    weights = thompson_weights([10, 16], [100, 100], draws=200_000, seed=1)
    assert weights[1] == pytest.approx(b_best, abs=0.005)
    floored = thompson_weights([0, 400], [1000, 1000], min_share=0.05, seed=1)
    assert floored == pytest.approx([0.05, 0.95], abs=1e-9)
    assert thompson_weights([0, 5], [10, 99], warmup=100) == [0.5, 0.5]


def test_epsilon_greedy_by_hand():
    assert epsilon_greedy_weights([5, 9, 1], [100, 100, 100], epsilon=0.3) == pytest.approx(
        [0.1, 0.8, 0.1]
    )
    assert epsilon_greedy_weights([5, 9], [10, 100], epsilon=0.1, warmup=50) == [0.5, 0.5]
    floor = epsilon_greedy_weights([1, 9], [100, 100], epsilon=0.0, min_share=0.1)
    assert floor == pytest.approx([0.1, 0.9])


def test_linucb_incremental_updates_match_the_batch_solution():
    rng = np.random.default_rng(5)
    model = LinUCB.create(arms=2, dimensions=3, alpha=0.7)
    xs, rs = rng.normal(size=(40, 3)), rng.random(40)
    for x, r in zip(xs[:25], rs[:25], strict=True):
        model.update(1, x, r)
    a = np.eye(3) + xs[:25].T @ xs[:25]
    b = xs[:25].T @ rs[:25]
    x = np.array([0.3, -1.0, 2.0])
    expected = np.linalg.solve(a, b) @ x + 0.7 * np.sqrt(x @ np.linalg.solve(a, x))
    assert model.scores(x)[1] == pytest.approx(expected, rel=1e-9)
    assert model.scores(x)[0] == pytest.approx(0.7 * np.linalg.norm(x), rel=1e-9)  # untouched
    restored = LinUCB.from_state(model.to_state())
    assert restored.scores(x) == pytest.approx(model.scores(x))
    probabilities = linucb_probabilities(model, x, min_share=0.1)
    assert sum(probabilities) == pytest.approx(1) and min(probabilities) == pytest.approx(0.1)


def test_offpolicy_estimators_by_hand():
    log = [
        offpolicy.LoggedDecision(arm=0, propensity=0.5, reward=1.0),
        offpolicy.LoggedDecision(arm=1, propensity=0.5, reward=0.0),
        offpolicy.LoggedDecision(arm=1, propensity=0.25, reward=1.0),
        offpolicy.LoggedDecision(arm=0, propensity=0.75, reward=0.0),
    ]
    target = np.array([[1.0, 0.0], [0.2, 0.8], [0.5, 0.5], [0.9, 0.1]])
    # weights: 1/0.5=2, 0.8/0.5=1.6, 0.5/0.25=2, 0.9/0.75=1.2
    assert offpolicy.ips(log, target).value == pytest.approx((2 * 1 + 0 + 2 * 1 + 0) / 4)
    assert offpolicy.snips(log, target).value == pytest.approx(4 / (2 + 1.6 + 2 + 1.2))
    q = np.full((4, 2), 0.5)
    # DR: direct 0.5 each + w (r - 0.5) -> 0.5 + 1, 0.5 - 0.8, 0.5 + 1, 0.5 - 0.6
    assert offpolicy.dr(log, target, q).value == pytest.approx((1.5 - 0.3 + 1.5 - 0.1) / 4)
    assert offpolicy.on_policy(log).value == 0.5


@pytest.mark.django_db
def test_beat_task_moves_traffic_to_the_better_arm_and_serving_logs_it(banner):
    experiment = make_experiment(policy="thompson", warmup=50, min_share=0.05)
    now = timezone.now()
    rng = np.random.default_rng(11)
    exposures, conversions = [], []
    goal = experiment.goals.get(primary=True)
    for arm, rate in (("a", 0.05), ("b", 0.15)):
        for _ in range(400):
            visitor = uuid.uuid4()
            decision = uuid.uuid4()
            exposures.append(
                Exposure(
                    decision_id=decision,
                    experiment=experiment,
                    arm=arm,
                    visitor_id=visitor,
                    placement="banner",
                    propensity=0.5,
                    created_at=now,
                )
            )
            if rng.random() < rate:
                conversions.append(
                    Conversion(
                        experiment=experiment,
                        goal=goal,
                        arm=arm,
                        visitor_id=visitor,
                        decision_id=decision,
                        created_at=now,
                    )
                )
    Exposure.objects.bulk_create(exposures)
    Conversion.objects.bulk_create(conversions)
    assert tasks.update_bandits() == {experiment.slug: 1}
    experiment.refresh_from_db()
    weights = experiment.policy_state["weights"]
    assert weights[1] > 0.9 and weights[0] >= 0.05 - 1e-12  # the floor holds
    assert experiment.policy_state["counts"]["trials"] == [400, 400]

    # Serving reads the new weights: the propensity is the arm's weight, the version is logged.
    by_arm = visitors_by_arm(wanted=("b",))
    shown = decide(by_arm["b"])["placements"]["banner"]
    answer = shown["experiment"]
    assert answer["propensity"] == pytest.approx(weights[1]) and answer["policy_version"] == 1
    tasks.flush_exposures()
    row = Exposure.objects.get(decision_id=shown["decision_id"])
    assert (row.policy_version, row.propensity) == (1, pytest.approx(weights[1]))


@pytest.mark.django_db
def test_linucb_learns_from_logged_rewards_incrementally(banner, settings):
    settings.PERSONALIZATION_BANDIT_REWARD_DELAY_SECONDS = 0
    experiment = make_experiment(policy="linucb", min_share=0.05)
    dims = len(experiment.policy_state["linucb"]["b"][0])
    by_arm = visitors_by_arm()
    for v in by_arm.values():
        decide(v)
    tasks.flush_exposures()
    assert all(len(e.features) == dims for e in Exposure.objects.all())
    goal = experiment.goals.get(primary=True)
    b_row = Exposure.objects.filter(arm="b").first()
    Conversion.objects.create(
        experiment=experiment,
        goal=goal,
        arm="b",
        visitor_id=b_row.visitor_id,
        created_at=b_row.created_at,
    )
    later = timezone.now() + datetime.timedelta(seconds=1)
    update_bandits(now=later)
    experiment.refresh_from_db()
    state = experiment.policy_state
    assert np.asarray(state["linucb"]["b"])[1].sum() > 0  # arm b learned a reward
    first_b = np.asarray(state["linucb"]["b"]).copy()
    update_bandits(now=later)  # nothing new: the same exposures are not folded twice
    experiment.refresh_from_db()
    assert np.asarray(experiment.policy_state["linucb"]["b"]) == pytest.approx(first_b)


@pytest.mark.django_db
def test_decide_with_a_running_experiment_reads_no_experiment_table(banner):
    make_experiment(policy="thompson")
    by_arm = visitors_by_arm()
    decide(by_arm["a"])  # warm
    with CaptureQueriesContext(connection) as queries:
        answer = decide(by_arm["a"])
    assert answer["placements"]["banner"]["experiment"]["arm"] == "a"
    touched = [q["sql"] for q in queries.captured_queries]
    assert not [q for q in touched if "SELECT" in q and "personalization_" in q], touched
    assert len(touched) <= 2  # at most the impression and exposure inserts (none with Redis)
