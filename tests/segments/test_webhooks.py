"""Webhooks: a signed POST per change, only for visitors who allow marketing."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.conf import settings

from personalization.segments.models import Segment
from personalization.segments.services import save_segment

from ..conftest import Visitor
from .test_segments import READER, read_ai

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "whsec-shared-with-the-receiver-only-0f3a9c"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.PERSONALIZATION_WEBHOOK_SECRET = WEBHOOK_SECRET


@pytest.fixture
def receiver():
    yield from _receiver(failures=0)


@pytest.fixture
def flaky_receiver():
    """Answers the first POST with a 503, as a receiver being deployed would, then 204s."""
    yield from _receiver(failures=1)


def _receiver(*, failures: int):
    received: list[tuple[dict, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers["X-Personalization-Signature"]))
            self.send_response(503 if len(received) <= failures else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_entering_a_segment_posts_a_signed_webhook_for_marketing_consenters(
    receiver, django_capture_on_commit_callbacks
):
    url, received = receiver
    save_segment(Segment(name="AI", slug="ai", rules=READER, status="enabled", webhook_url=url))
    shared, private = Visitor(), Visitor()
    shared.consent(analytics=True, personalization=True, marketing=True)
    private.consent(analytics=True, personalization=True, marketing=False)
    with django_capture_on_commit_callbacks(execute=True):
        read_ai(shared, 3)
        read_ai(private, 3)
    assert len(received) == 1
    body, signature = received[0]
    payload = json.loads(body)
    assert payload["segment"] == "ai" and payload["event"] == "entered"
    assert payload["visitor_ids"] == [str(shared.id)]
    expected = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
    # The receiver holds the webhook secret, never the key that signs visitor tokens.
    with_secret_key = hmac.new(settings.SECRET_KEY.encode(), body, hashlib.sha256).hexdigest()
    assert signature != f"sha256={with_secret_key}"


def test_without_a_webhook_secret_nothing_is_sent(
    receiver, settings, django_capture_on_commit_callbacks
):
    settings.PERSONALIZATION_WEBHOOK_SECRET = ""
    url, received = receiver
    save_segment(Segment(name="AI", slug="ai", rules=READER, status="enabled", webhook_url=url))
    v = Visitor()
    v.consent(analytics=True, personalization=True, marketing=True)
    with django_capture_on_commit_callbacks(execute=True):
        read_ai(v, 3)
    assert received == []


def test_a_failing_receiver_makes_the_task_retry():
    from personalization.segments.webhooks import WebhookFailed, deliver_webhook

    segment = save_segment(
        Segment(
            name="AI",
            slug="ai",
            rules=READER,
            status="enabled",
            webhook_url="http://127.0.0.1:9/nothing-listens-here",
        )
    )
    v = Visitor()
    v.consent(analytics=True, personalization=True, marketing=True)
    with pytest.raises(WebhookFailed):
        deliver_webhook(segment.pk, "entered", [str(v.id)])
    assert deliver_webhook(segment.pk, "entered", []) == 0


def test_the_webhook_task_retries_a_failed_delivery_until_it_lands(flaky_receiver):
    """Through the Celery task (eager Celery runs a retry at once): the 503 is retried, and the
    second POST, for the same visitors, is the one that lands."""
    from personalization.tasks import segment_webhook

    url, received = flaky_receiver
    segment = save_segment(
        Segment(name="AI", slug="ai", rules=READER, status="enabled", webhook_url=url)
    )
    v = Visitor()
    v.consent(analytics=True, personalization=True, marketing=True)
    # throw=False: a worker does not raise the Retry either, it schedules the next attempt.
    result = segment_webhook.apply(args=[segment.pk, "entered", [str(v.id)]], throw=False)
    assert len(received) == 2
    for body, _signature in received:
        assert json.loads(body)["visitor_ids"] == [str(v.id)]
    assert result.successful() and result.result == 1
