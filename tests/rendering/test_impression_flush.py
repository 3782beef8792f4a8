"""Two impression flushers that overlap (the first one's lock expired while it wrote) must not
trim rows the second pushed after it read: each trims only what it read, and only while it still
holds the lock."""

from __future__ import annotations

import json
import uuid

import pytest
from django.utils import timezone

from personalization.variants import services
from personalization.variants.models import Impression
from personalization.variants.services import flush_impressions, impression_buffer
from personalization.visitor_cache import cache

from ..own_redis import OwnRedis, needs_redis_server, use_own_redis_cache

pytestmark = [pytest.mark.django_db, needs_redis_server]


@pytest.fixture
def own_redis(tmp_path, settings):
    server = OwnRedis(tmp_path)
    server.start()
    use_own_redis_cache(settings, server, "flush-test")
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


def push(visitor_id: uuid.UUID, n: int) -> list[str]:
    client, key = impression_buffer()
    ids = [str(uuid.uuid4()) for _ in range(n)]
    for decision_id in ids:
        row = {
            "decision_id": decision_id,
            "visitor_id": str(visitor_id),
            "placement": "banner",
            "variant_id": "",
            "segments": [],
            "created_at": timezone.now().isoformat(),
        }
        client.rpush(key, json.dumps([row]))
    return ids


def test_overlapping_flushers_lose_no_unread_rows(own_redis, visitor, monkeypatch):
    first = push(visitor.id, 3)
    real_insert = services._insert
    calls = []

    def slow_first_flusher(rows):
        calls.append(len(rows))
        written = real_insert(rows)
        if len(calls) == 1:
            # Flusher 1's lock expires while it writes; flusher 2 takes over and drains...
            client, _key = impression_buffer()
            client.delete(client.keys("*impressions:flushing*")[0])
            assert flush_impressions() == 3
            # ...and new rows arrive before flusher 1 goes on to trim.
            late.extend(push(visitor.id, 4))
        return written

    late: list[str] = []
    monkeypatch.setattr(services, "_insert", slow_first_flusher)
    flush_impressions()  # flusher 1
    monkeypatch.setattr(services, "_insert", real_insert)
    flush_impressions()  # the next run writes whatever is left
    stored = {str(i) for i in Impression.objects.values_list("decision_id", flat=True)}
    assert stored == set(first) | set(late)
    client, key = impression_buffer()
    assert client.llen(key) == 0


def test_a_flusher_releases_only_its_own_lock(own_redis, visitor):
    push(visitor.id, 2)
    client, _key = impression_buffer()
    lock_key = cache().backend.make_and_validate_key(services.FLUSH_LOCK_KEY)
    client.set(lock_key, "someone-else")  # another flusher holds the lock
    assert flush_impressions() == 0
    assert client.get(lock_key) == b"someone-else"
