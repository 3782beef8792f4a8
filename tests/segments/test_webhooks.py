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
from personalization.segments.services import recompute_segment, save_segment

from ..conftest import Visitor
from .test_segments import READER, read_ai

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "whsec-shared-with-the-receiver-only-0f3a9c"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.PERSONALIZATION_WEBHOOK_SECRET = WEBHOOK_SECRET


class Received(list):
    """The (body, signature) of each POST answered 2xx; ``deliveries``: the delivery header of
    every POST, answered or failed; ``fail_next``: how many POSTs to answer 503."""

    def __init__(self):
        super().__init__()
        self.deliveries: list[str] = []
        self.fail_next = 0


@pytest.fixture
def receiver():
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.deliveries.append(self.headers["X-Personalization-Delivery"])
            if received.fail_next:
                received.fail_next -= 1
                self.send_response(503)
                self.end_headers()
                return
            received.append((body, self.headers["X-Personalization-Signature"]))
            self.send_response(204)
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


def test_a_bulk_recompute_posts_batches_each_with_its_own_delivery_id(
    receiver, settings, django_capture_on_commit_callbacks
):
    settings.PERSONALIZATION_WEBHOOK_BATCH_SIZE = 2
    url, received = receiver
    readers = []
    for _ in range(5):
        v = Visitor()
        v.consent(analytics=True, personalization=True, marketing=True)
        read_ai(v, 3)
        readers.append(v)
    ai = save_segment(
        Segment(name="AI", slug="ai", rules=READER, status="enabled", webhook_url=url)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert recompute_segment(ai)["entered"] == 5
    payloads = [json.loads(body) for body, _ in received]
    assert sorted(len(p["visitor_ids"]) for p in payloads) == [1, 2, 2]
    assert sorted(i for p in payloads for i in p["visitor_ids"]) == sorted(
        str(v.id) for v in readers
    )
    assert {p["event"] for p in payloads} == {"entered"}
    delivery_ids = [p["delivery_id"] for p in payloads]
    assert len(set(delivery_ids)) == 3 and all(delivery_ids)
    assert received.deliveries == delivery_ids  # the header says the same as the body


def test_a_retried_batch_keeps_its_delivery_id(receiver):
    from personalization.tasks import segment_webhook

    url, received = receiver
    ai = save_segment(
        Segment(name="AI", slug="ai", rules=READER, status="enabled", webhook_url=url)
    )
    v = Visitor()
    v.consent(analytics=True, personalization=True, marketing=True)
    received.fail_next = 1
    # Eagerly, as a worker would: the failure is retried at once (no back-off wait).
    segment_webhook.apply(args=[ai.pk, "entered", [str(v.id)], "batch-7f3a"], throw=False)
    assert received.deliveries == ["batch-7f3a", "batch-7f3a"]  # failed, then retried
    assert json.loads(received[0][0])["delivery_id"] == "batch-7f3a"
    # A task queued before batches had ids gets one from its arguments: the same on retry.
    received.fail_next = 1
    segment_webhook.apply(args=[ai.pk, "left", [str(v.id)]], throw=False)
    first, again = received.deliveries[2:]
    assert first == again and first != "batch-7f3a"
