"""Export, erasure and retention: the GDPR/CCPA duties, over every table keyed by a visitor.

Tables take part by declaring ``personalization_visitor_lookups`` on their model: the field
lookups that reach a visitor id (e.g. ``("visitor_id",)`` or ``("profile__visitor_id",)``). A new
visitor-keyed table that forgets it fails the erasure test, which scans every model.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta
from functools import reduce
from operator import or_
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.crypto import salted_hmac

from ..conf import get_setting
from ..events.models import Event
from ..profiles.buckets import daily_horizon, hourly_horizon
from ..profiles.models import Granularity, ProfileCounter, VisitorAlias, VisitorProfile
from ..signals import visitor_erased
from ..sql import lock_visitor
from ..visitor_cache import forget_visitor_keys
from .models import PrivacyAuditEntry


def visitor_models() -> list[type[models.Model]]:
    """Every installed model that holds data keyed by a visitor."""
    return [m for m in apps.get_models() if getattr(m, "personalization_visitor_lookups", None)]


SUBJECT_SALT = "personalization.privacy.subject"


def subject_hash(visitor_id: uuid.UUID) -> str:
    """How the audit log names a visitor without their id: a keyed hash (Django's
    ``salted_hmac`` over ``SECRET_KEY``, salted for this use only)."""
    return salted_hmac(SUBJECT_SALT, f"visitor:{visitor_id}", algorithm="sha256").hexdigest()


def subject_hashes(visitor_id: uuid.UUID) -> tuple[str, str]:
    """Every spelling of ``subject_hash`` an audit entry may hold: the current one, and the raw
    HMAC-SHA256 keyed with ``SECRET_KEY`` that entries written before it carry (audit entries
    are kept and never rewritten, so reading accepts both)."""
    message = f"visitor:{visitor_id}".encode()
    legacy = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()
    return subject_hash(visitor_id), legacy


def audit_entries(visitor_id: uuid.UUID | None = None):
    """The audit log, newest first; only the entries about ``visitor_id`` when given."""
    entries = PrivacyAuditEntry.objects.order_by("-created_at", "-pk")
    if visitor_id is not None:
        entries = entries.filter(subject_hash__in=subject_hashes(visitor_id))
    return entries


def visitor_ids(visitor_id: uuid.UUID) -> set[uuid.UUID]:
    """The visitor's id, the profile it was merged into, and every id merged into that."""
    ids = {visitor_id}
    canonical = (
        VisitorAlias.objects.filter(alias_id=visitor_id)
        .values_list("profile__visitor_id", flat=True)
        .first()
    )
    if canonical:
        ids.add(canonical)
    ids.update(
        VisitorAlias.objects.filter(profile__visitor_id__in=ids).values_list("alias_id", flat=True)
    )
    return ids


def _visitor_q(model: type[models.Model], ids: set[uuid.UUID]) -> models.Q:
    lookups = model.personalization_visitor_lookups
    return reduce(or_, (models.Q(**{f"{lookup}__in": ids}) for lookup in lookups))


def export_visitor(visitor_id: uuid.UUID, *, actor: str = "") -> dict[str, Any]:
    """Everything stored about a visitor, as JSON-ready data (GDPR Art. 15 / 20)."""
    ids = visitor_ids(visitor_id)
    tables: dict[str, list[dict[str, Any]]] = {}
    for model in visitor_models():
        rows = [
            {"id": obj.pk, **model_to_dict(obj)}
            for obj in model.objects.filter(_visitor_q(model, ids)).order_by("pk")
        ]
        tables[model._meta.label] = rows
    PrivacyAuditEntry.objects.create(
        action=PrivacyAuditEntry.Action.EXPORT,
        subject_hash=subject_hash(visitor_id),
        actor=actor[:150],
        details={"rows": sum(len(v) for v in tables.values())},
    )
    data = {
        "visitor_ids": sorted(str(i) for i in ids),
        "exported_at": timezone.now(),
        "tables": tables,
    }
    # Round-trip through the encoder so callers get plain JSON types (UUIDs, dates, decimals).
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def erase_visitor(visitor_id: uuid.UUID, *, actor: str = "") -> dict[str, int]:
    """Delete every row about a visitor (GDPR Art. 17, CCPA deletion). Returns rows per table.

    Each id is locked as folding locks it, so a fold in flight either finishes first (and its
    rows are deleted here) or runs after and finds nothing to recreate from. Every cache key
    named after the ids goes too (snapshot, generation counter, rate-limit counter).
    """
    counts: dict[str, int] = {}
    with transaction.atomic():
        ids = visitor_ids(visitor_id)
        for vid in sorted(ids):  # one order for every locker: no deadlock
            lock_visitor(vid)
        user_ids = list(
            VisitorProfile.objects.filter(visitor_id__in=ids)
            .exclude(user=None)
            .values_list("user_id", flat=True)
        )
        for model in visitor_models():
            deleted, per_model = model.objects.filter(_visitor_q(model, ids)).delete()
            for label, n in per_model.items():
                counts[label] = counts.get(label, 0) + n
        PrivacyAuditEntry.objects.create(
            action=PrivacyAuditEntry.Action.ERASE,
            subject_hash=subject_hash(visitor_id),
            actor=actor[:150],
            details={"rows": sum(counts.values())},
        )
        forget_visitor_keys(ids, user_ids)
    visitor_erased.send(sender=PrivacyAuditEntry, visitor_id=visitor_id, counts=counts)
    return counts


def _purge_declared(now: datetime) -> dict[str, int]:
    """Tables that declare ``personalization_retention = (date field, days setting)``."""
    purged = {}
    for model in apps.get_models():
        declared = getattr(model, "personalization_retention", None)
        if declared is None:
            continue
        field, setting = declared
        cutoff = now - timedelta(days=get_setting(setting))
        purged[model._meta.model_name], _ = model.objects.filter(
            **{f"{field}__lt": cutoff}
        ).delete()
    return purged


def purge_expired_data(*, now: datetime | None = None) -> dict[str, int]:
    """Apply retention: old events, and counters older than their bucket's window."""
    now = now or timezone.now()
    events, _ = Event.objects.filter(
        timestamp__lt=now - timedelta(days=get_setting("EVENT_RETENTION_DAYS")), folded=True
    ).delete()
    hourly, _ = ProfileCounter.objects.filter(
        granularity__in=[Granularity.HOUR, Granularity.FIVE_MINUTES],
        bucket__lt=hourly_horizon(now, get_setting("HOURLY_COUNTER_HOURS")),
    ).delete()
    daily, _ = ProfileCounter.objects.filter(
        granularity=Granularity.DAY,
        bucket__lt=daily_horizon(now, get_setting("DAILY_COUNTER_DAYS")),
    ).delete()
    result = {"events": events, "hourly_counters": hourly, "daily_counters": daily}
    result.update(_purge_declared(now))
    if any(result.values()):
        PrivacyAuditEntry.objects.create(action=PrivacyAuditEntry.Action.PURGE, details=result)
    return result
