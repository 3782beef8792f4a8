"""The ingestion service: consent and bot gates, storage, and folding into the profile.

Every way events arrive (the HTTP API, the server-side page-view capture, Python callers,
imports) goes through ``ingest_events``. It costs one cache read (the snapshot, for consent and
merged ids), one query for duplicates and one insert. Folding runs inline in eager mode; with
real workers, in the request for a browser's small batch (``INLINE_FOLD_MAX_EVENTS``) and in one
Celery task per larger batch.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.db import transaction

from .background import EVENTS_QUEUE, enqueue, run_inline
from .conf import get_setting
from .consent.services import may_collect_events
from .context import CONTENT_VERSION_KEY
from .events.services import store_events
from .experiments.services import attribute_conversions
from .page_views import absorb_server_views
from .profiles.folding import fold_visitor
from .profiles.snapshot import ProfileSnapshot, get_snapshot, snapshot_keys
from .types import EventIn, IngestResult, RequestContext
from .visitor_cache import cache, version_tokens

FOLD_TASK = "personalization.fold_profile"

logger = logging.getLogger(__name__)


def schedule_fold(visitor_id: uuid.UUID, events: int, *, small_in_request: bool = True) -> None:
    """Fold in the request (laptop, tests, no broker, a browser's small batch) or hand off to
    a worker (large batches in production, and whatever ``small_in_request=False`` callers
    store: a page view captured while the page renders must not wait for its fold)."""
    if run_inline():
        fold_visitor(visitor_id)
    elif (
        small_in_request
        and get_setting("FOLD_MODE") == "auto"
        and events <= get_setting("INLINE_FOLD_MAX_EVENTS")
    ):
        # After the commit, so the 202 still means stored: should this fold fail or the process
        # die, the task (or the straggler sweep) folds the events later.
        transaction.on_commit(lambda: _fold_here_or_send(visitor_id))
    else:
        _send_fold(visitor_id)


def _send_fold(visitor_id: uuid.UUID) -> None:
    enqueue(
        FOLD_TASK, [str(visitor_id)], queue=EVENTS_QUEUE, inline=lambda: fold_visitor(visitor_id)
    )


def _fold_here_or_send(visitor_id: uuid.UUID) -> None:
    try:
        fold_visitor(visitor_id)
    except Exception:
        logger.exception("Folding a small batch in the request failed; sending it to a worker")
        _send_fold(visitor_id)


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
    fold_small_in_request: bool = True,
    snapshot: ProfileSnapshot | None = None,
    content_version: str | None = None,
) -> IngestResult:
    """Store a batch of already-validated events for one visitor.

    Bots and visitors without consent for analytics or personalization are ignored: nothing is
    written, and the result says why. ``fold=False`` leaves folding to the caller (bulk loaders
    that store many batches of one visitor and call ``fold_visitor`` once);
    ``fold_small_in_request=False`` sends even a small batch to the workers (see
    ``schedule_fold``). A caller that has
    just read the visitor's ``snapshot`` passes it, saving the cache round trip, and the
    ``content_version`` (running experiments) when it read that too; otherwise that is read only
    once events were stored, when conversions need it.
    """
    if context.is_bot:
        return IngestResult(ignored=len(events), ignored_reason="bot", rejected=rejected)
    if snapshot is None:
        # The snapshot (consent, merged ids) and the content version in one cache round trip.
        found = cache().get_many([*snapshot_keys(visitor_id), CONTENT_VERSION_KEY])
        snapshot = get_snapshot(visitor_id, found=found)
        if content_version is None:
            (content_version,) = version_tokens(CONTENT_VERSION_KEY, found=found)
    if not may_collect_events(snapshot.consent, dnt=context.dnt, gpc=context.gpc):
        reason = "do_not_track" if (context.dnt or context.gpc) else "no_consent"
        return IngestResult(ignored=len(events), ignored_reason=reason, rejected=rejected)
    if not events:
        return IngestResult(rejected=rejected)
    with transaction.atomic():
        # A browser's page view of a render the server recorded for this visitor is that record
        # (pages behind a page cache report every load; page_views.py).
        events, absorbed = absorb_server_views(snapshot.visitor_id, events)
        accepted, duplicates = store_events(snapshot.visitor_id, events, context, now=now)
        duplicates += absorbed
        if accepted and fold:
            schedule_fold(snapshot.visitor_id, accepted, small_in_request=fold_small_in_request)
        # Goal events become experiment conversions (once per visitor and goal, or per event
        # for goals that count repeats: a re-delivered batch changes nothing).
        if content_version is None:
            (content_version,) = version_tokens(CONTENT_VERSION_KEY)
        outcomes = attribute_conversions(
            snapshot.visitor_id, events, content_version=content_version, now=now
        )
    return IngestResult(
        accepted=accepted,
        duplicates=duplicates,
        rejected=rejected,
        conversions=[
            {
                "experiment": o.experiment,
                "goal": o.goal,
                "counted": o.counted,
                "reason": o.reason,
            }
            for o in outcomes
        ],
    )
