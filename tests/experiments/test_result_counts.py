"""Results are counted by a beat task into ``ResultCount``; the results API and page read the
stored counts and say when they were computed, instead of scanning the logs per request."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from personalization import tasks
from personalization.celery import TASK_QUEUES, beat_schedule
from personalization.experiments.models import Experiment, ResultCount

from ..conftest import Visitor
from .conftest import decide, visitors_by_arm
from .test_flow import RESULTS, purchase

pytestmark = pytest.mark.django_db


def read(visitor: Visitor, experiment) -> dict:
    response = visitor.client.get(
        RESULTS.format(experiment.pk), HTTP_AUTHORIZATION="Api-Key s3cret"
    )
    assert response.status_code == 200
    return response.json()


def arms_of(body: dict) -> dict[str, tuple[int, int, float]]:
    goal = next(g for g in body["goals"] if g["primary"])
    return {r["arm"]: (r["exposed"], r["converted"], r["value"]) for r in goal["arms"]}


def test_results_come_from_the_stored_counts(experiment, settings, django_assert_max_num_queries):
    settings.PERSONALIZATION_API_KEYS = {"analytics": "s3cret"}
    by_arm = visitors_by_arm()
    for v in by_arm.values():
        decide(v)
    tasks.flush_exposures()
    purchase(by_arm["b"], 20)

    before = read(by_arm["a"], experiment)
    assert before["computed_at"] is None
    assert arms_of(before) == {"a": (0, 0, 0.0), "b": (0, 0, 0.0)}

    assert tasks.compute_experiment_results() == {
        experiment.slug: ResultCount.objects.filter(experiment=experiment).count()
    }
    with connection.cursor() as cursor:  # raw SQL, not the ORM the task uses
        cursor.execute(
            "SELECT arm, COUNT(DISTINCT visitor_id) FROM personalization_exposure "
            "WHERE experiment_id = %s GROUP BY arm",
            [experiment.pk],
        )
        exposed = dict(cursor.fetchall())
    after = read(by_arm["a"], experiment)
    assert after["computed_at"] is not None
    assert arms_of(after) == {"a": (exposed["a"], 0, 0.0), "b": (exposed["b"], 1, 20.0)}
    assert after["series"][-1]["arms"]["b"] == {
        "exposed": exposed["b"],
        "converted": 1,
        "rate": round(1 / exposed["b"], 10),
    }

    # A new conversion shows at the next count, not before: reads do not touch the logs.
    purchase(by_arm["a"], 5)
    with django_assert_max_num_queries(12):
        assert arms_of(read(by_arm["a"], experiment))["a"][1] == 0
    stored = sorted(
        ResultCount.objects.filter(experiment=experiment).values_list(
            "arm", "goal_id", "day", "visitors", "events", "value", "value_squares"
        ),
        key=str,
    )
    tasks.compute_experiment_results()
    assert arms_of(read(by_arm["a"], experiment))["a"] == (exposed["a"], 1, 5.0)
    # Idempotent: counting the same logs again stores the same rows.
    again = sorted(
        ResultCount.objects.filter(experiment=experiment).values_list(
            "arm", "goal_id", "day", "visitors", "events", "value", "value_squares"
        ),
        key=str,
    )
    tasks.compute_experiment_results()
    assert (
        sorted(
            ResultCount.objects.filter(experiment=experiment).values_list(
                "arm", "goal_id", "day", "visitors", "events", "value", "value_squares"
            ),
            key=str,
        )
        == again
        != stored
    )


def test_settled_completed_experiments_are_not_recounted(experiment):
    tasks.compute_experiment_results()
    Experiment.objects.filter(pk=experiment.pk).update(
        status=Experiment.Status.COMPLETED,
        ended_at=timezone.now() - datetime.timedelta(hours=2),
        results_computed_at=timezone.now() - datetime.timedelta(hours=1),
    )
    assert tasks.compute_experiment_results() == {}
    Experiment.objects.filter(pk=experiment.pk).update(
        results_computed_at=timezone.now() - datetime.timedelta(hours=3)
    )
    assert list(tasks.compute_experiment_results()) == [experiment.slug]  # once more, then no


def test_the_task_is_scheduled_on_the_segments_queue():
    assert TASK_QUEUES["personalization.compute_experiment_results"] == "segments"
    entry = beat_schedule()["personalization-compute-experiment-results"]
    assert entry["task"] == "personalization.compute_experiment_results"
    assert entry["schedule"] == 300.0 and entry["options"]["queue"] == "segments"
