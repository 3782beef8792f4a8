"""Queueing a task after the commit, without letting a broker outage fail the request.

The data a task works on is already committed when we enqueue it, and each task has a
database-driven safety net (``fold_stragglers`` for folds, the periodic recompute for segment
membership). So when the broker is unreachable the message is dropped with a log line rather
than turning a stored write into a 500, and the safety net does the work once it is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)

# After a failed publish, skip the broker for this long: requests do not each wait on it.
RETRY_AFTER_SECONDS = 2.0
# One quick retry (a blip), not the default three with back-off, while a request waits.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1}

_down_until = [0.0]


def send_now(name: str, args: Sequence[Any], *, queue: str | None = None) -> bool:
    """Send a task by name; False (and a log line) if the broker is unreachable."""
    if current_app.conf.task_always_eager and name in current_app.tasks:
        current_app.tasks[name].apply_async(args=list(args))  # runs here, like .delay()
        return True
    if time.monotonic() < _down_until[0]:
        return False
    options: dict[str, Any] = {"queue": queue} if queue else {}
    try:
        current_app.send_task(name, args=list(args), retry_policy=PUBLISH_RETRY_POLICY, **options)
    except Exception as exc:  # noqa: BLE001 - kombu, redis-py and socket errors alike
        _down_until[0] = time.monotonic() + RETRY_AFTER_SECONDS
        logger.warning(
            "Broker unavailable, task %s%s not queued (%s: %s); its safety net will catch up",
            name,
            tuple(args),
            type(exc).__name__,
            exc,
        )
        return False
    return True


def send_after_commit(name: str, args: Sequence[Any], *, queue: str | None = None) -> None:
    """Queue a task by name once the surrounding transaction commits (now, outside one)."""
    args = list(args)
    transaction.on_commit(lambda: send_now(name, args, queue=queue))
