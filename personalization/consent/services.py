"""Recording consent, and answering "may we do X for this visitor?".

Effective consent = the operator's defaults, overridden by the visitor's explicit answers, then
overridden by browser signals: Do Not Track or Global Privacy Control switch off every purpose
but ``necessary`` for that request, whatever was stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..conf import get_setting
from ..sql import lock_visitor
from ..visitor_cache import invalidate_visitor
from .models import ConsentChange, ConsentRecord
from .purposes import EVENT_PURPOSES, NECESSARY, PURPOSES


class UnknownPurpose(ValueError):
    pass


class InvalidChoice(ValueError):
    """A purpose answered with something other than ``True`` or ``False``.

    ``bool("no")`` is true, so a truthy check would turn a refusal sent as text into a grant:
    only real booleans are answers. ``field`` names the purpose."""

    def __init__(self, field: str, value: Any):
        super().__init__(f"{field}: must be true or false, not {value!r}.")
        self.field = field


def record_consent(
    visitor_id: uuid.UUID, choices: Mapping[str, bool], *, source: str = "api"
) -> dict[str, bool]:
    """Store the visitor's answers and return their explicit state after the change.

    ``necessary`` cannot be refused: it is what lets us remember the refusal. Answers are
    booleans only (``InvalidChoice`` otherwise, before anything is written).
    """
    unknown = sorted(set(choices) - set(PURPOSES))
    if unknown:
        raise UnknownPurpose(", ".join(unknown))
    for purpose, granted in choices.items():
        if not isinstance(granted, bool):
            raise InvalidChoice(purpose, granted)
    now = timezone.now()
    with transaction.atomic():
        # The visitor lock that folding holds while it reads consent and counts events: a
        # withdrawal waits for a fold in progress, and every later fold sees it.
        lock_visitor(visitor_id)
        existing = {
            r.purpose: r
            for r in ConsentRecord.objects.select_for_update().filter(visitor_id=visitor_id)
        }
        changes = []
        for purpose, granted in choices.items():
            granted = True if purpose == NECESSARY else granted
            record = existing.get(purpose)
            if record is not None and record.granted == granted:
                continue
            if record is None:
                record = ConsentRecord(visitor_id=visitor_id, purpose=purpose)
                existing[purpose] = record
            record.granted, record.source, record.updated_at = granted, source, now
            record.save()
            changes.append(
                ConsentChange(
                    visitor_id=visitor_id,
                    purpose=purpose,
                    granted=granted,
                    source=source,
                    created_at=now,
                )
            )
        ConsentChange.objects.bulk_create(changes)
        if changes:
            invalidate_visitor(visitor_id)
    if changes:
        from ..signals import consent_changed

        consent_changed.send(
            sender=ConsentRecord,
            visitor_id=visitor_id,
            changes={c.purpose: c.granted for c in changes},
        )
    return {purpose: record.granted for purpose, record in existing.items()}


def explicit_consent(visitor_id: uuid.UUID) -> dict[str, bool]:
    """The visitor's explicit answers, read from the database (writers decide on this, not on
    a cached snapshot)."""
    return dict(
        ConsentRecord.objects.filter(visitor_id=visitor_id).values_list("purpose", "granted")
    )


def stored_consent(visitor_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """Explicit answers from the database: {purpose: {"granted", "updated_at", "source"}}."""
    return {
        r.purpose: {"granted": r.granted, "updated_at": r.updated_at, "source": r.source}
        for r in ConsentRecord.objects.filter(visitor_id=visitor_id)
    }


def effective_consent(
    explicit: Mapping[str, bool], *, dnt: bool = False, gpc: bool = False
) -> dict[str, bool]:
    """Defaults, then explicit answers, then browser signals."""
    state = {p: bool(get_setting("CONSENT_DEFAULTS").get(p, False)) for p in PURPOSES}
    state.update({p: bool(v) for p, v in explicit.items() if p in state})
    if (dnt and get_setting("HONOUR_DNT")) or (gpc and get_setting("HONOUR_GPC")):
        state = {p: p == NECESSARY for p in state}
    state[NECESSARY] = True
    return state


def may_collect_events(
    explicit: Mapping[str, bool], *, dnt: bool = False, gpc: bool = False
) -> bool:
    """Whether behavioural events may be stored: one of their purposes is allowed."""
    consent = effective_consent(explicit, dnt=dnt, gpc=gpc)
    return any(consent[p] for p in EVENT_PURPOSES)


def visitors_collecting_events(visitor_ids) -> set[uuid.UUID]:
    """Of these visitors, those whose explicit answers (or the defaults) allow events: one query."""
    ids = {uuid.UUID(str(v)) for v in visitor_ids}
    answers: dict[uuid.UUID, dict[str, bool]] = {v: {} for v in ids}
    for visitor_id, purpose, granted in ConsentRecord.objects.filter(
        visitor_id__in=ids
    ).values_list("visitor_id", "purpose", "granted"):
        answers[visitor_id][purpose] = granted
    return {v for v, explicit in answers.items() if may_collect_events(explicit)}
