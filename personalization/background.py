"""Background work: on a Celery worker when the site has a broker, in the request when not.

A stock ``wagtail start`` project has no Celery app. Celery then falls back to its default app,
whose broker is ``amqp://localhost``, and sending a task raises ``OperationalError``: without
this module a consented visitor's page view would be a 500. So:

- ``PERSONALIZATION_FOLD_MODE = "auto"`` (the default) works in the request when Celery is eager
  or no broker is configured (``broker_url`` unset), and on workers otherwise; ``"inline"`` always
  works in the request; ``"task"`` always sends (``manage.py check`` refuses it without a broker).
- A broker that is configured but fails at run time never reaches the visitor: the work runs in
  the request instead, and the failure is logged.

Tasks are sent by name (this layer must not import the task module above it), each to its queue
(``personalization.celery.QUEUES``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.db import transaction

from .celery import EVENTS_QUEUE, SEGMENTS_QUEUE
from .conf import get_setting

__all__ = ["EVENTS_QUEUE", "SEGMENTS_QUEUE", "broker_configured", "enqueue", "run_inline"]

logger = logging.getLogger("personalization.background")

# After a failed publish, skip the broker for this long, and retry a publish once (a blip), not
# three times with back-off, while a request waits.
BROKER_RETRY_AFTER_SECONDS = 2.0
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1}
_broker_down_until = [0.0]


def broker_configured() -> bool:
    """Whether the Celery app in use names a broker (Celery's fallback app names none)."""
    return bool(current_app.conf.broker_url)


def run_inline() -> bool:
    """Do background work in the request (laptop, tests, a site without Celery) or send it."""
    mode = get_setting("FOLD_MODE")
    if mode == "auto":
        return bool(current_app.conf.task_always_eager) or not broker_configured()
    return mode == "inline"


def enqueue(name: str, args: list[Any], *, queue: str, inline: Callable[[], Any]) -> None:
    """After the commit, send task ``name`` to ``queue``, or call ``inline()`` in its place.

    ``inline`` is the task's body (the service call). It runs when there is no worker to send to
    and when sending fails; its own errors are logged, never raised into the visitor's request.
    """

    def run_here() -> None:
        try:
            inline()
        except Exception:
            logger.exception("Background work %s failed in the request", name)

    def send() -> None:
        if time.monotonic() < _broker_down_until[0]:
            run_here()  # the broker failed a moment ago: requests do not each wait on it
            return
        try:
            current_app.send_task(name, args=args, queue=queue, retry_policy=PUBLISH_RETRY_POLICY)
        except Exception:
            _broker_down_until[0] = time.monotonic() + BROKER_RETRY_AFTER_SECONDS
            logger.exception("Could not send %s to the broker; running it in the request", name)
            run_here()

    transaction.on_commit(run_here if run_inline() else send)
