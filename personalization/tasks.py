"""Celery tasks: thin, idempotent wrappers that take ids and call one service.

Nobody reads their return values (beat and after-commit hooks fire and forget), so none stores
a result: ``ignore_result=True`` keeps the result backend from filling with one key per task.
"""

from __future__ import annotations

from celery import shared_task

from .privacy.services import purge_expired_data as purge_expired_data_service
from .profiles.folding import fold_stragglers, fold_visitor
from .segments.services import (
    recompute_segment_by_id,
    recompute_time_dependent,
    record_segment_sizes,
)
from .segments.webhooks import WebhookFailed, deliver_webhook
from .variants.services import flush_impressions as flush_impressions_service


@shared_task(
    name="personalization.fold_profile",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
)
def fold_profile(visitor_id: str) -> int:
    """Fold a visitor's unfolded events; re-running it finds nothing left and counts nothing."""
    return fold_visitor(visitor_id)


@shared_task(ignore_result=True, name="personalization.fold_stragglers", acks_late=True)
def fold_straggling_events() -> int:
    """Safety net for lost fold tasks: events are never left uncounted."""
    return fold_stragglers()


@shared_task(
    ignore_result=True, name="personalization.recompute_time_dependent_segments", acks_late=True
)
def recompute_time_dependent_segments() -> dict:
    """Windows slide: visitors leave 'in the last 24 h' segments without doing anything."""
    return {slug: result["size"] for slug, result in recompute_time_dependent().items()}


@shared_task(ignore_result=True, name="personalization.recompute_segment", acks_late=True)
def recompute_segment_task(segment_id: int) -> dict | None:
    return recompute_segment_by_id(segment_id)


@shared_task(
    name="personalization.segment_webhook",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(WebhookFailed,),
    retry_backoff=True,
    max_retries=6,
)
def segment_webhook(segment_id: int, event: str, visitor_ids: list[str]) -> int:
    return deliver_webhook(segment_id, event, visitor_ids)


@shared_task(ignore_result=True, name="personalization.record_segment_sizes", acks_late=True)
def record_segment_sizes_task() -> int:
    """Daily: one size point per segment for the charts, even on quiet days."""
    return record_segment_sizes()


@shared_task(ignore_result=True, name="personalization.purge_expired_data", acks_late=True)
def purge_expired_data() -> dict[str, int]:
    return purge_expired_data_service()


@shared_task(ignore_result=True, name="personalization.flush_impressions", acks_late=True)
def flush_impressions() -> int:
    """Write the impressions the decide API buffered; safe to run often and concurrently."""
    return flush_impressions_service()
