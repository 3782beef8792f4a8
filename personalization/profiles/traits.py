"""Traits: facts the site knows about a visitor (customer tier, age band, from a CRM import)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from ..conf import get_setting
from ..consent.purposes import PERSONALIZATION
from ..consent.services import effective_consent, explicit_consent
from ..signals import profile_changed
from ..text import find_unstorable
from ..visitor_cache import invalidate_visitor
from .models import VisitorProfile

TRAIT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class TraitError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


class NoConsent(PermissionError):
    """The visitor has not consented to personalization, so no profile data may be stored."""


def validate_traits(traits: Any) -> dict[str, Any]:
    """Trait names are identifiers; values are scalars or flat lists (``None`` deletes)."""
    if not isinstance(traits, Mapping):
        raise TraitError("traits", "Must be an object.")
    if len(traits) > get_setting("MAX_TRAITS"):
        raise TraitError("traits", f"At most {get_setting('MAX_TRAITS')} traits.")
    for name, value in traits.items():
        path = f"traits.{name}"
        if not isinstance(name, str) or not TRAIT_NAME_RE.match(name):
            raise TraitError(path, "Names are letters, digits and '_', up to 64 characters.")
        if isinstance(value, str) and len(value) > 1000:
            raise TraitError(path, "Longer than 1000 characters.")
        unstorable = find_unstorable(value, path)
        if unstorable:
            raise TraitError(*unstorable)
        if isinstance(value, list):
            if len(value) > 100 or any(
                not isinstance(v, str | int | float | bool) or isinstance(v, str) and len(v) > 200
                for v in value
            ):
                raise TraitError(path, "Lists hold up to 100 short plain values.")
        elif value is not None and not isinstance(value, str | int | float | bool):
            raise TraitError(path, "Must be a string, number, boolean, list or null.")
    return dict(traits)


def set_traits(
    visitor_id: uuid.UUID, traits: Mapping[str, Any], *, require_consent: bool = True
) -> dict[str, Any]:
    """Merge traits into the visitor's profile and return all their traits.

    A ``None`` value removes that trait. Without personalization consent nothing is stored and
    ``NoConsent`` is raised, unless the caller has its own legal basis (``require_consent=False``,
    e.g. a contract with a logged-in customer).
    """
    traits = validate_traits(traits)
    allowed = (
        not require_consent or effective_consent(explicit_consent(visitor_id))[PERSONALIZATION]
    )
    if not allowed:
        raise NoConsent(str(visitor_id))
    with transaction.atomic():
        profile, _ = VisitorProfile.objects.select_for_update().get_or_create(visitor_id=visitor_id)
        merged = dict(profile.traits)
        for name, value in traits.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        if len(merged) > get_setting("MAX_TRAITS"):
            raise TraitError("traits", f"A profile holds at most {get_setting('MAX_TRAITS')}.")
        profile.traits = merged
        profile.save(update_fields=["traits", "updated_at"])
        invalidate_visitor(visitor_id)
        profile_changed.send(VisitorProfile, visitor_id=visitor_id)
    return merged
