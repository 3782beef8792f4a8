"""Reads the rest of the app (and host code) uses to ask about a visitor."""

from __future__ import annotations

import uuid

from ..consent.purposes import PURPOSES
from ..consent.services import UnknownPurpose, effective_consent
from .snapshot import get_snapshot


def has_consent(
    visitor_id: uuid.UUID | None, purpose: str, *, dnt: bool = False, gpc: bool = False
) -> bool:
    """May we process this visitor's data for ``purpose``? One cache round trip.

    ``visitor_id=None`` (a visitor we have never identified) falls back to the defaults.
    """
    if purpose not in PURPOSES:
        raise UnknownPurpose(purpose)
    explicit = get_snapshot(visitor_id).consent if visitor_id else {}
    return effective_consent(explicit, dnt=dnt, gpc=gpc)[purpose]
