"""The ingestion service: consent and bot gates, storage, and folding into the profile.

Every way events arrive (the HTTP API, the server-side page-view capture, Python callers,
imports) goes through ``ingest_events``. It costs one cache read (the snapshot, for consent and
merged ids), one query for duplicates and one insert; folding runs inline in eager mode and in
one Celery task per batch with real workers.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from celery import current_app
from django.db import transaction

from .conf import get_setting
from .consent.services import may_collect_events
from .enqueue import send_after_commit
from .events.services import store_events
from .profiles.folding import fold_visitor
from .profiles.snapshot import get_snapshot
from .types import EventIn, IngestResult, RequestContext

FOLD_TASK = "personalization.fold_profile"
FOLD_QUEUE = "events"


def fold_inline() -> bool:
    """Fold in the request (laptop, tests) or hand off to a worker (production)."""
    mode = get_setting("FOLD_MODE")
    if mode == "auto":
        return bool(current_app.conf.task_always_eager)
    return mode == "inline"


def schedule_fold(visitor_id: uuid.UUID) -> None:
    if fold_inline():
        fold_visitor(visitor_id)
        return
    # By name: the task module wraps this layer, so this layer must not import it. With the
    # broker down the events stay stored and unfolded; fold_stragglers folds them.
    send_after_commit(FOLD_TASK, [str(visitor_id)], queue=FOLD_QUEUE)


def canonical_visitor_id(visitor_id: uuid.UUID) -> uuid.UUID:
    return get_snapshot(visitor_id).visitor_id


def ingest_events(
    visitor_id: uuid.UUID,
    events: list[EventIn],
    context: RequestContext,
    *,
    now: datetime | None = None,
    rejected: int = 0,
    fold: bool = True,
) -> IngestResult:
    """Store a batch of already-validated events for one visitor.

    Bots and visitors without consent for analytics or personalization are ignored: nothing is
    written, and the result says why. ``fold=False`` leaves folding to the caller (bulk loaders
    that store many batches of one visitor and call ``fold_visitor`` once).
    """
    if context.is_bot:
        return IngestResult(ignored=len(events), ignored_reason="bot", rejected=rejected)
    snapshot = get_snapshot(visitor_id)
    if not may_collect_events(snapshot.consent, dnt=context.dnt, gpc=context.gpc):
        reason = "do_not_track" if (context.dnt or context.gpc) else "no_consent"
        return IngestResult(ignored=len(events), ignored_reason=reason, rejected=rejected)
    if not events:
        return IngestResult(rejected=rejected)
    with transaction.atomic():
        accepted, duplicates = store_events(snapshot.visitor_id, events, context, now=now)
        if accepted and fold:
            schedule_fold(snapshot.visitor_id)
    return IngestResult(accepted=accepted, duplicates=duplicates, rejected=rejected)
