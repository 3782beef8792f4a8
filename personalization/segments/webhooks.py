"""Telling other systems who entered or left a segment (signed POSTs, in batches).

Only visitors who consented to ``marketing`` are sent: handing ids to another system is the
sharing that purpose covers. A bulk recompute can move many thousands of visitors at once: the
ids go out in batches of ``PERSONALIZATION_WEBHOOK_BATCH_SIZE``, one task and one POST each, and
every batch carries its own ``delivery_id`` (in the body and the ``X-Personalization-Delivery``
header), the same on every retry of that batch, so a receiver can drop a batch it already has.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
import uuid

from django.utils import timezone

from ..conf import get_setting
from ..consent.models import ConsentRecord
from ..consent.purposes import MARKETING
from ..consent.services import effective_consent
from .models import Segment

TIMEOUT_SECONDS = 5
logger = logging.getLogger(__name__)


class WebhookFailed(RuntimeError):
    """The receiver did not answer 2xx; the task retries."""


def marketing_consented(visitor_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    explicit: dict[uuid.UUID, dict[str, bool]] = {}
    for vid, granted in ConsentRecord.objects.filter(
        visitor_id__in=visitor_ids, purpose=MARKETING
    ).values_list("visitor_id", "granted"):
        explicit[vid] = {MARKETING: granted}
    return [v for v in visitor_ids if effective_consent(explicit.get(v, {}))[MARKETING]]


def signature(body: bytes, secret: str) -> str:
    """HMAC-SHA256 of the body with the webhook secret (never SECRET_KEY: receivers hold it)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_batches(visitor_ids: list[str]) -> list[tuple[str, list[str]]]:
    """The ids in batches of ``PERSONALIZATION_WEBHOOK_BATCH_SIZE``, each with a new delivery
    id (made once, here, so that retries of its task send the same one)."""
    size = max(1, int(get_setting("WEBHOOK_BATCH_SIZE")))
    return [
        (uuid.uuid4().hex, visitor_ids[start : start + size])
        for start in range(0, len(visitor_ids), size)
    ]


def _legacy_delivery_id(segment_id: int, event: str, visitor_ids: list[str]) -> str:
    """For a task queued before deliveries had ids: stable over its retries."""
    message = json.dumps([segment_id, event, visitor_ids]).encode()
    return hashlib.sha256(message).hexdigest()[:32]


def deliver_webhook(
    segment_id: int, event: str, visitor_ids: list[str], delivery_id: str | None = None
) -> int:
    """POST ``{"segment", "event", "visitor_ids", "delivery_id", "sent_at"}``; returns how many
    ids were sent."""
    segment = Segment.objects.filter(pk=segment_id).exclude(webhook_url="").first()
    if segment is None:
        return 0
    secret = get_setting("WEBHOOK_SECRET")
    if not secret:
        logger.warning(
            "Segment webhook for %r not sent: PERSONALIZATION_WEBHOOK_SECRET is not set.",
            segment.slug,
        )
        return 0
    allowed = marketing_consented([uuid.UUID(v) for v in visitor_ids])
    if not allowed:
        return 0
    delivery_id = delivery_id or _legacy_delivery_id(segment_id, event, visitor_ids)
    body = json.dumps(
        {
            "segment": segment.slug,
            "event": event,
            "visitor_ids": [str(v) for v in allowed],
            "delivery_id": delivery_id,
            "sent_at": timezone.now().isoformat(),
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310  (the URL is an editor-set http(s) URLField)
        segment.webhook_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Personalization-Signature": f"sha256={signature(body, secret)}",
            "X-Personalization-Delivery": delivery_id,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            if not 200 <= response.status < 300:
                raise WebhookFailed(f"{segment.webhook_url} answered {response.status}")
    except urllib.error.URLError as exc:
        raise WebhookFailed(f"{segment.webhook_url}: {exc}") from exc
    return len(allowed)
