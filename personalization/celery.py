"""What a host's Celery app needs from this app: its queues, its routes and its beat schedule.

Plain data, no Django imports, so a settings module can use it::

    # settings.py
    from personalization.celery import beat_schedule, task_routes

    CELERY_TASK_ROUTES = task_routes()
    CELERY_BEAT_SCHEDULE = {**beat_schedule(), **your_own_entries}

and run ``celery -A yourproject worker -Q celery,events,segments`` plus one
``celery -A yourproject beat`` (``-Q`` lists your default queue, ``celery`` unless you renamed
it, and both of ours). The tasks also carry their queue, so they land in it even without the
routes; the routes make it visible in your settings.
"""

from __future__ import annotations

from typing import Any

EVENTS_QUEUE = "events"  # folding events into profiles, writing buffered impressions: fast
SEGMENTS_QUEUE = "segments"  # recomputes, webhooks, size history, retention: slower, can wait
TRAINING_QUEUE = "training"  # fitting recommenders and scoring models: minutes, CPU-bound
QUEUES = (EVENTS_QUEUE, SEGMENTS_QUEUE, TRAINING_QUEUE)

TASK_QUEUES: dict[str, str] = {
    "personalization.fold_profile": EVENTS_QUEUE,
    "personalization.fold_stragglers": EVENTS_QUEUE,
    "personalization.flush_impressions": EVENTS_QUEUE,
    "personalization.recompute_segment": SEGMENTS_QUEUE,
    "personalization.recompute_time_dependent_segments": SEGMENTS_QUEUE,
    "personalization.recheck_segment_windows": SEGMENTS_QUEUE,
    "personalization.segment_webhook": SEGMENTS_QUEUE,
    "personalization.record_segment_sizes": SEGMENTS_QUEUE,
    "personalization.purge_expired_data": SEGMENTS_QUEUE,
    "personalization.flush_exposures": EVENTS_QUEUE,
    "personalization.flush_recommendation_impressions": EVENTS_QUEUE,
    "personalization.update_bandits": SEGMENTS_QUEUE,
    "personalization.compute_experiment_results": SEGMENTS_QUEUE,
    "personalization.train_recommenders": TRAINING_QUEUE,
    "personalization.retrain_recommenders_if_needed": TRAINING_QUEUE,
    "personalization.train_models": TRAINING_QUEUE,
    "personalization.apply_models": TRAINING_QUEUE,
}


def task_routes() -> dict[str, dict[str, str]]:
    """``CELERY_TASK_ROUTES`` entries: every task of this app to its queue."""
    return {name: {"queue": queue} for name, queue in TASK_QUEUES.items()}


def beat_schedule(
    *,
    recompute_seconds: float = 300.0,
    bandit_seconds: float = 300.0,
    results_seconds: float = 300.0,
    recommender_train_seconds: float = 86400.0,
    model_train_seconds: float = 86400.0,
) -> dict[str, dict[str, Any]]:
    """``CELERY_BEAT_SCHEDULE`` entries for the periodic tasks (intervals in seconds).

    - windowed segments recomputed every 5 minutes, so visitors leave when a window slides;
    - visitors whose window closed re-evaluated every minute (segments/windows.py);
    - events whose fold task was lost (a killed worker's) folded every 15 seconds;
    - impressions buffered in Redis written every 10 seconds;
    - expired events, impressions and profiles purged hourly;
    - one size point per segment daily, for the charts;
    - experiment exposures and recommendation impressions buffered in Redis written every 10 s;
    - bandit weights recomputed from logged rewards every 5 minutes;
    - experiment results counted (per arm and goal, for the results page and API) every 5 min;
    - recommenders retrained daily, and sooner once enough new events arrived (checked every
      10 minutes);
    - personas and predictive scores retrained daily.
    """
    every = {
        "personalization.recompute_time_dependent_segments": float(recompute_seconds),
        # Visitors whose windowed condition changed by time alone (segments/windows.py).
        "personalization.recheck_segment_windows": 60.0,
        # With PERSONALIZATION_FOLD_STRAGGLER_SECONDS (20): events a killed worker held unacked
        # are folded within about 40 s instead of waiting for the visibility timeout (an hour).
        "personalization.fold_stragglers": 15.0,
        "personalization.flush_impressions": 10.0,
        "personalization.purge_expired_data": 3600.0,
        "personalization.record_segment_sizes": 86400.0,
        "personalization.flush_exposures": 10.0,
        "personalization.flush_recommendation_impressions": 10.0,
        "personalization.update_bandits": float(bandit_seconds),
        "personalization.compute_experiment_results": float(results_seconds),
        "personalization.train_recommenders": float(recommender_train_seconds),
        "personalization.retrain_recommenders_if_needed": 600.0,
        "personalization.train_models": float(model_train_seconds),
    }
    return {
        name.replace(".", "-").replace("_", "-"): {
            "task": name,
            "schedule": seconds,
            # A message beat sent that still waits when the next is due is dropped, not run twice.
            "options": {"queue": TASK_QUEUES[name], "expires": seconds},
        }
        for name, seconds in every.items()
    }
