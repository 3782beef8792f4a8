"""Redis goes away mid-traffic: a Redis of the test's own (its own port) is stopped between
requests and started again. Pages and decide answer (from the database), events are stored and
acknowledged (folded later by the straggler sweep), throttling fails open with a log line,
impressions take the durable path, and everything recovers without a restart, including the
invalidations the outage kept us from making."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import timedelta

import pytest

from cms_site.celery import app as celery_app
from personalization import background, cache_backends
from personalization.api.v1 import throttling
from personalization.events.models import Event
from personalization.profiles.folding import fold_stragglers
from personalization.variants.models import Impression

from ..own_redis import OwnRedis, use_own_redis_cache
from .conftest import FALLBACK_TEXT, VIP_TEXT, VIP_VARIANT

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]

DECIDE_URL = "/api/personalization/v1/decide"
PREFIX = "outage-test"


@pytest.fixture
def own_redis(tmp_path, settings, monkeypatch):
    server = OwnRedis(tmp_path)
    server.start()
    use_own_redis_cache(settings, server, PREFIX)
    settings.PERSONALIZATION_FOLD_MODE = "task"
    # Retry at once in this test (production waits a second or two between attempts).
    monkeypatch.setattr(cache_backends, "RETRY_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(background, "BROKER_RETRY_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(throttling, "_last_warning", [0.0])
    broker = celery_app.conf.broker_url
    celery_app.conf.task_always_eager = False
    _use_broker(server.url)
    yield server
    _use_broker(broker)
    celery_app.conf.task_always_eager = True
    if server.process is not None:
        server.process.terminate()
        server.process.wait(timeout=10)


def _use_broker(url: str) -> None:
    celery_app.conf.broker_url = url
    celery_app.conf.broker_write_url = None
    celery_app._pool = None  # the next send opens a pool for the new URL
    celery_app.amqp._producer_pool = None


def decide(visitor):
    return visitor.client.post(
        DECIDE_URL,
        json.dumps({"placements": ["banner"]}),
        content_type="application/json",
        HTTP_X_VISITOR_ID=visitor.token,
    )


def test_redis_outage_degrades_to_the_database_and_recovers(
    own_redis, settings, article, banner, vip, regular, caplog, django_capture_on_commit_callbacks
):
    settings.PERSONALIZATION_THROTTLE_RATES = {
        "visitor": "5/min",
        "client": "1000/min",
        "anonymous": "1000/min",
    }
    buffer = f"{PREFIX}:1:personalization:impressions:buffer"
    # Before: snapshots and the impression buffer live in our Redis.
    assert decide(vip).json()["placements"]["banner"]["variant"] == VIP_VARIANT
    assert own_redis.llen(buffer) == 1
    regular.profile()  # caches regular's snapshot (consent: granted)

    own_redis.stop()
    caplog.set_level(logging.WARNING)
    before = Impression.objects.count()
    # Pages and decide answer from the database; impressions take the durable path.
    assert VIP_TEXT in vip.client.get(article.url).content.decode()
    assert FALLBACK_TEXT in regular.client.get(article.url).content.decode()
    answer = decide(vip)
    assert answer.status_code == 200
    assert answer.json()["placements"]["banner"]["variant"] == VIP_VARIANT
    assert Impression.objects.count() == before + 1
    # Events are stored and acknowledged; the fold message cannot be sent, so the fold runs in
    # the request instead (personalization.background), and says so.
    with django_capture_on_commit_callbacks(execute=True):
        sent = vip.send({"type": "click", "id": "during-outage"})
    assert sent.status_code == 202 and sent.json()["accepted"] == 1
    assert Event.objects.get(key="c:during-outage").folded is True
    assert "running it in the request" in caplog.text
    # Throttling fails open (5/min would refuse the sixth call), with a log line.
    assert {regular.profile()["visitor_id"] for _ in range(7)} == {str(regular.id)}
    assert "Rate limits not enforced" in caplog.text
    # Consent withdrawn while the cached snapshot cannot be invalidated.
    regular.consent(analytics=False, personalization=False)
    for url in ["/api/personalization/v1/consent", "/api/personalization/v1/segments"]:
        assert vip.client.get(url, HTTP_X_VISITOR_ID=vip.token).status_code == 200

    own_redis.start()  # with its old data: regular's snapshot still says "consented"
    # The missed invalidation is replayed before anything is read: the withdrawal holds.
    after = regular.send({"type": "click", "id": "after-withdrawal"})
    assert after.status_code == 200, after.content  # ignored events are a 200, not a 202
    assert after.json()["accepted"] == 0 and after.json()["ignored_reason"] == "no_consent"
    # The buffer, the throttle and the broker are used again, without a restart.
    decide(vip)
    assert own_redis.llen(buffer) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert vip.send({"type": "click", "id": "after-outage"}).status_code == 202
    assert own_redis.llen("events") == 1, caplog.text[-1500:]
    statuses = [
        vip.client.get("/api/personalization/v1/profile", HTTP_X_VISITOR_ID=vip.token).status_code
        for _ in range(7)
    ]
    assert 429 in statuses
    # The sweep folds what waits: vip's click sent to the broker after the outage (no worker
    # runs here) and regular's page view, whose after-commit fold this test never ran.
    assert fold_stragglers(older_than=timedelta(0)) == 2
    assert not Event.objects.filter(folded=False).exists()
