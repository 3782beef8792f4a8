"""Celery tasks: thin, idempotent wrappers that take ids and call one service.

Nobody reads their return values (beat and after-commit hooks fire and forget), so none stores
a result: ``ignore_result=True`` keeps the result backend from filling with one key per task.
"""

from __future__ import annotations

from celery import shared_task

from .celery import TASK_QUEUES
from .experiments.bandits import update_bandits as update_bandits_service
from .experiments.results import compute_results
from .experiments.services import flush_exposures as flush_exposures_service
from .privacy.services import purge_expired_data as purge_expired_data_service
from .profiles.folding import fold_stragglers, fold_visitor
from .recommendations.serving import flush_impressions as flush_recommendation_impressions_service
from .recommendations.training import train as train_recommender
from .recommendations.training import train_if_enough_new_events
from .scoring.services import apply_models as apply_models_service
from .scoring.services import train_models as train_models_service
from .segments.services import (
    recompute_segment_by_id,
    recompute_time_dependent,
    record_segment_sizes,
)
from .segments.webhooks import WebhookFailed, deliver_webhook
from .segments.windows import recheck_due_windows
from .variants.services import flush_impressions as flush_impressions_service


@shared_task(
    name="personalization.fold_profile",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.fold_profile"],
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
)
def fold_profile(visitor_id: str) -> int:
    """Fold a visitor's unfolded events; re-running it finds nothing left and counts nothing."""
    return fold_visitor(visitor_id)


@shared_task(
    name="personalization.fold_stragglers",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.fold_stragglers"],
    acks_late=True,
)
def fold_straggling_events() -> int:
    """Safety net for lost fold tasks: events are never left uncounted."""
    return fold_stragglers()


@shared_task(
    name="personalization.recompute_time_dependent_segments",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.recompute_time_dependent_segments"],
    acks_late=True,
)
def recompute_time_dependent_segments() -> dict:
    """Windows slide: visitors leave 'in the last 24 h' segments without doing anything."""
    return {slug: result["size"] for slug, result in recompute_time_dependent().items()}


@shared_task(
    name="personalization.recheck_segment_windows",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.recheck_segment_windows"],
    acks_late=True,
)
def recheck_segment_windows() -> int:
    """Visitors whose window closed since their last evaluation leave (or enter) segments."""
    return recheck_due_windows()


@shared_task(
    name="personalization.recompute_segment",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.recompute_segment"],
    acks_late=True,
)
def recompute_segment_task(segment_id: int) -> dict | None:
    return recompute_segment_by_id(segment_id)


@shared_task(
    name="personalization.segment_webhook",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.segment_webhook"],
    acks_late=True,
    autoretry_for=(WebhookFailed,),
    retry_backoff=True,
    max_retries=6,
)
def segment_webhook(
    segment_id: int, event: str, visitor_ids: list[str], delivery_id: str | None = None
) -> int:
    """One batch; a retry sends the same ``delivery_id`` (tasks queued without one get a stable
    id from their arguments)."""
    return deliver_webhook(segment_id, event, visitor_ids, delivery_id)


@shared_task(
    name="personalization.record_segment_sizes",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.record_segment_sizes"],
    acks_late=True,
)
def record_segment_sizes_task() -> int:
    """Daily: one size point per segment for the charts, even on quiet days."""
    return record_segment_sizes()


@shared_task(
    name="personalization.purge_expired_data",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.purge_expired_data"],
    acks_late=True,
)
def purge_expired_data() -> dict[str, int]:
    return purge_expired_data_service()


@shared_task(
    name="personalization.flush_impressions",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.flush_impressions"],
    acks_late=True,
)
def flush_impressions() -> int:
    """Write the impressions the decide API buffered; safe to run often and concurrently."""
    return flush_impressions_service()


@shared_task(
    name="personalization.train_recommenders",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.train_recommenders"],
    acks_late=True,
    time_limit=3600,
)
def train_recommenders(algorithm: str | None = None) -> int:
    """Beat (daily by default): train, evaluate and activate a new version; returns its id."""
    return train_recommender(algorithm).pk


@shared_task(
    name="personalization.retrain_recommenders_if_needed",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.retrain_recommenders_if_needed"],
    acks_late=True,
)
def retrain_recommenders_if_needed() -> int | None:
    """Beat (often): retrain once PERSONALIZATION_RETRAIN_AFTER_EVENTS new events arrived."""
    version = train_if_enough_new_events()
    return version.pk if version else None


@shared_task(
    name="personalization.flush_exposures",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.flush_exposures"],
    acks_late=True,
)
def flush_exposures() -> int:
    """Write the experiment exposures that page renders and decide calls buffered."""
    return flush_exposures_service()


@shared_task(
    name="personalization.update_bandits",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.update_bandits"],
    acks_late=True,
)
def update_bandits() -> dict[str, int]:
    """Recompute every running bandit's weights from logged exposures and rewards."""
    return update_bandits_service()


@shared_task(
    name="personalization.compute_experiment_results",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.compute_experiment_results"],
    acks_late=True,
)
def compute_experiment_results() -> dict[str, int]:
    """Count exposures and conversions per experiment, arm and goal into ``ResultCount``, which
    the results page and API read; idempotent (each run replaces the counts)."""
    return compute_results()


@shared_task(
    name="personalization.flush_recommendation_impressions",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.flush_recommendation_impressions"],
    acks_late=True,
)
def flush_recommendation_impressions() -> int:
    """Write the recommendation impressions buffered in Redis; safe to run often."""
    return flush_recommendation_impressions_service()


@shared_task(
    name="personalization.train_models",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.train_models"],
    acks_late=True,
)
def train_models(names: list[str] | None = None) -> dict[str, str]:
    """Beat (e.g. nightly) and the admin's "Train now": train, activate per settings, rescore.
    Re-running it trains another version; nothing is lost or doubled."""
    return {str(v): v.status for v in train_models_service(names, actor="task")}


@shared_task(
    name="personalization.apply_models",
    ignore_result=True,
    queue=TASK_QUEUES["personalization.apply_models"],
    acks_late=True,
)
def apply_models() -> dict[str, int]:
    """After an activation or rollback: every profile gets the active models' persona and scores."""
    return apply_models_service()
