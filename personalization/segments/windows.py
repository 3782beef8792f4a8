"""Windows that close without a new event: the instant a visitor's membership would change by
time alone, and the sweep that re-evaluates visitors when that instant has passed.

Whenever a visitor's memberships are evaluated (after a fold, or by this sweep), the earliest
instant at which any windowed condition of a dynamic segment could change for them is stored on
their profile (``segments_recheck_at``): when the oldest event a window counts leaves it. The
beat task ``personalization.recheck_segment_windows`` runs every minute and re-evaluates the
profiles whose instant has passed, which stores their next one (or none). Re-evaluating is
idempotent: a visitor swept twice, or swept and folded at once (both take the visitor's lock),
ends with the same memberships.

What the visitor sees follows the window on its own: pages evaluate the snapshot at the time of
the request. This sweep is for the stored membership (counts, exports, ``segment_left`` signals
and webhooks).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..profiles.models import VisitorProfile
from ..sql import lock_visitor
from .base import EvalContext

logger = logging.getLogger(__name__)


def next_change(contexts: Iterable[tuple[object, EvalContext]]) -> datetime | None:
    """The earliest ``changes_at`` over the leaves of (compiled segment, context) pairs."""
    instants = [
        instant
        for segment, ctx in contexts
        if segment.time_dependent
        for leaf in segment.node.leaves()
        if (instant := leaf.changes_at(ctx)) is not None
    ]
    return min(instants, default=None)


def store_recheck(visitor_id: uuid.UUID, instant: datetime | None) -> None:
    VisitorProfile.objects.filter(visitor_id=visitor_id).update(segments_recheck_at=instant)


def recheck_due_windows(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Re-evaluate the memberships of visitors whose recheck instant has passed; returns how
    many were re-evaluated. Each visitor is re-evaluated under their lock, as a fold is."""
    from .membership import update_visitor_memberships

    now = now or timezone.now()
    due = list(
        VisitorProfile.objects.filter(segments_recheck_at__lte=now)
        .order_by("segments_recheck_at")
        .values_list("visitor_id", flat=True)[:limit]
    )
    done = 0
    for visitor_id in due:
        try:
            with transaction.atomic():
                lock_visitor(visitor_id)
                update_visitor_memberships(visitor_id, now=now)
                # Nothing left to wait for (no windowed segment any more): stop sweeping them.
                VisitorProfile.objects.filter(
                    visitor_id=visitor_id, segments_recheck_at__lte=now
                ).update(segments_recheck_at=None)
            done += 1
        except Exception:  # noqa: BLE001 - one visitor's failure must not stop the sweep
            logger.exception("Re-evaluating the windows of visitor %s failed", visitor_id)
    return done
