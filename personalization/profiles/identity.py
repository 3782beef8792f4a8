"""Visitor ids: signed tokens for browsers, and merging an anonymous visitor into a user.

A visitor id is a random UUID. What travels (cookie, ``X-Visitor-Id`` header, body field) is the
id signed with the site's secret, so a client can hold its id but never forge someone else's.
"""

from __future__ import annotations

import functools
import uuid

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F

from ..consent.models import ConsentChange, ConsentRecord
from ..events.models import Event
from ..signals import profiles_merged
from ..visitor_cache import cache, invalidate_visitor, user_key
from .folding import fold_visitor
from .models import ProfileCounter, VisitorAlias, VisitorProfile

SALT = "personalization.visitor"


def new_visitor_id() -> uuid.UUID:
    return uuid.uuid4()


def _secrets() -> tuple:
    """What a signature depends on besides the value: part of the memo keys below, so that a
    rotated ``SECRET_KEY`` (or fallback list) is never answered from the old key's results."""
    return settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS)


def sign_visitor_id(visitor_id: uuid.UUID) -> str:
    return _signed(visitor_id, _secrets())


def parse_visitor_token(token: object) -> uuid.UUID | None:
    """The id inside a signed token, or None for anything forged, truncated or malformed."""
    if not isinstance(token, str) or len(token) > 200:
        return None
    return _unsigned(token, _secrets())


# An API call verifies its visitor's token (in the throttle, then for the view) and signs it
# into the answer: HMACs that, for the same token, give the same result every time. Both are
# remembered per process, bounded; junk tokens can only evict entries, never add a valid one.
@functools.lru_cache(maxsize=4096)
def _signed(visitor_id: uuid.UUID, secrets: tuple) -> str:
    return signing.Signer(salt=SALT).sign(visitor_id.hex)


@functools.lru_cache(maxsize=4096)
def _unsigned(token: str, secrets: tuple) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=signing.Signer(salt=SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def parse_raw_visitor_id(value: object) -> uuid.UUID | None:
    """A bare UUID, accepted only from trusted server clients (API keys, staff)."""
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return parse_visitor_token(value)


def visitor_id_for_user(user) -> uuid.UUID | None:
    """The profile id of a logged-in user (cached; one cache read)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    store = cache()
    key = user_key(user.pk)
    cached = store.get(key)
    if cached is not None:
        return uuid.UUID(cached) if cached else None
    found = (
        VisitorProfile.objects.filter(user_id=user.pk).values_list("visitor_id", flat=True).first()
    )
    store.set(key, str(found) if found else "", 300)
    return found


def claim_for_user(visitor_id: uuid.UUID, user) -> None:
    """Create the profile of a new id as the user's own (they had none)."""
    VisitorProfile.objects.get_or_create(visitor_id=visitor_id, defaults={"user": user})
    cache().delete(user_key(user.pk))
    invalidate_visitor(visitor_id)


def link_user(visitor_id: uuid.UUID | None, user) -> uuid.UUID | None:
    """On login: make ``visitor_id``'s profile the user's, merging with one they already have.

    Returns the id the browser should carry from now on (None if there is no profile to carry).
    A user on two devices ends up with one profile; the other ids become aliases of it.
    """
    existing = (
        VisitorProfile.objects.filter(user_id=user.pk).values_list("visitor_id", flat=True).first()
    )
    if visitor_id is None or visitor_id == existing:
        return existing
    owner = (
        VisitorProfile.objects.filter(visitor_id=visitor_id)
        .values_list("user_id", flat=True)
        .first()
    )
    if owner is not None and owner != user.pk:
        return existing  # another user's profile on a shared device: never merge two people
    if existing is not None:
        merge_visitors(visitor_id, existing)
        return existing
    with transaction.atomic():
        updated = VisitorProfile.objects.filter(visitor_id=visitor_id, user__isnull=True).update(
            user=user
        )
    cache().delete(user_key(user.pk))
    if updated:
        invalidate_visitor(visitor_id)
        return visitor_id
    return None


def merge_visitors(source_id: uuid.UUID, target_id: uuid.UUID) -> None:
    """Fold one visitor's data into another's and leave an alias behind. Safe to repeat."""
    if source_id == target_id:
        return
    with transaction.atomic():
        profiles = {
            p.visitor_id: p
            for p in VisitorProfile.objects.select_for_update()
            .filter(visitor_id__in=[source_id, target_id])
            .order_by("pk")
        }
        target = profiles.get(target_id)
        source = profiles.get(source_id)
        if target is None:
            return
        _merge_events(source_id, target_id)
        _merge_consent(source_id, target_id)
        if source is not None:
            _merge_counters(source, target)
            _merge_fields(source, target)
            VisitorAlias.objects.filter(profile=source).update(profile=target)
            source.delete()
            target.save()
        VisitorAlias.objects.get_or_create(alias_id=source_id, defaults={"profile": target})
        invalidate_visitor(source_id)
        invalidate_visitor(target_id)
    profiles_merged.send(sender=VisitorProfile, source_id=source_id, target_id=target_id)
    fold_visitor(target_id)  # events carried over unfolded are counted for the target


def _merge_events(source_id: uuid.UUID, target_id: uuid.UUID) -> None:
    target_keys = Event.objects.filter(visitor_id=target_id).values("key")
    Event.objects.filter(visitor_id=source_id, key__in=target_keys).delete()
    Event.objects.filter(visitor_id=source_id).update(visitor_id=target_id)


def _merge_consent(source_id: uuid.UUID, target_id: uuid.UUID) -> None:
    """Per purpose, the newer answer wins; the history of both is kept under the target."""
    records = ConsentRecord.objects.select_for_update().filter(
        visitor_id__in=[source_id, target_id]
    )
    by_purpose: dict[str, list[ConsentRecord]] = {}
    for record in records:
        by_purpose.setdefault(record.purpose, []).append(record)
    for purpose_records in by_purpose.values():
        newest = max(purpose_records, key=lambda r: r.updated_at)
        target = next((r for r in purpose_records if r.visitor_id == target_id), None)
        if target is None:
            newest.visitor_id = target_id
            newest.save(update_fields=["visitor_id"])
        elif newest is not target:
            target.granted, target.source, target.updated_at = (
                newest.granted,
                newest.source,
                newest.updated_at,
            )
            target.save()
    ConsentRecord.objects.filter(visitor_id=source_id).delete()
    ConsentChange.objects.filter(visitor_id=source_id).update(visitor_id=target_id)


def _merge_counters(source: VisitorProfile, target: VisitorProfile) -> None:
    target_counters = {
        (c.granularity, c.bucket, c.event_type, c.dimension): c
        for c in ProfileCounter.objects.filter(profile=target)
    }
    moved = []
    for counter in ProfileCounter.objects.filter(profile=source):
        key = (counter.granularity, counter.bucket, counter.event_type, counter.dimension)
        mine = target_counters.get(key)
        if mine is None:
            moved.append(counter.pk)
        else:
            ProfileCounter.objects.filter(pk=mine.pk).update(
                count=F("count") + counter.count, value=F("value") + counter.value
            )
    ProfileCounter.objects.filter(pk__in=moved).update(profile=target)


def _merge_fields(source: VisitorProfile, target: VisitorProfile) -> None:
    earlier = source.first_seen and (not target.first_seen or source.first_seen < target.first_seen)
    if earlier:
        target.first_seen = source.first_seen
        target.first_referrer = source.first_referrer
        target.first_landing_url = source.first_landing_url
        target.first_utm = source.first_utm
    if source.last_seen and (not target.last_seen or source.last_seen > target.last_seen):
        target.last_seen = source.last_seen
        target.current_visit_started_at = source.current_visit_started_at
        for field in (
            "device_type",
            "os",
            "browser",
            "country",
            "region",
            "language",
            "latest_referrer",
            "latest_landing_url",
            "latest_utm",
        ):
            if getattr(source, field):
                setattr(target, field, getattr(source, field))
    target.visit_count += source.visit_count
    target.event_count += source.event_count
    target.purchase_count += source.purchase_count
    target.monetary_total += source.monetary_total
    if source.last_purchase_at and (
        not target.last_purchase_at or source.last_purchase_at > target.last_purchase_at
    ):
        target.last_purchase_at = source.last_purchase_at
    target.traits = {**source.traits, **target.traits}
