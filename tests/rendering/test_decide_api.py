"""POST /api/personalization/v1/decide: variants for headless frontends."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from personalization.events.models import Event
from personalization.privacy.services import erase_visitor, export_visitor, purge_expired_data
from personalization.variants.models import Impression, PersonalizedContent
from personalization.variants.services import flush_impressions

from ..conftest import IPHONE, Visitor
from ..redis_traffic import redis_traffic
from .conftest import FALLBACK_TEXT, MOBILE_VARIANT, VIP_TEXT, VIP_VARIANT

pytestmark = pytest.mark.django_db

DECIDE_URL = "/api/personalization/v1/decide"


def impression_buffer_missing() -> bool:
    from django.conf import settings

    return "redis" not in settings.CACHES["default"]["BACKEND"].lower()


def decide(visitor: Visitor, body: dict, **headers):
    if visitor.token:
        headers.setdefault("HTTP_X_VISITOR_ID", visitor.token)
    return visitor.client.post(
        DECIDE_URL, json.dumps(body), content_type="application/json", **headers
    )


@pytest.fixture
def cta(segments) -> PersonalizedContent:
    return PersonalizedContent.objects.create(
        name="CTA", slug="cta", fallback=[{"type": "paragraph", "value": "<p>Sign up</p>"}]
    )


def test_decide_answers_each_placement_with_one_variant(banner, cta, vip):
    response = decide(vip, {"placements": ["banner", "cta"], "include_html": True})
    assert response.status_code == 200, response.content
    assert response.headers["Cache-Control"] == "private, no-store"
    body = response.json()
    assert body["segments"] == ["vip"]
    assert body["segment_key"]
    hero = body["placements"]["banner"]
    assert hero["variant"] == VIP_VARIANT
    assert hero["segments"] == ["vip"]
    assert [b["value"] for b in hero["content"]] == [VIP_TEXT]
    assert VIP_TEXT in hero["html"]
    assert body["placements"]["cta"]["variant"] is None
    assert body["placements"]["cta"]["content"][0]["type"] == "paragraph"
    assert FALLBACK_TEXT not in response.content.decode()


def test_api_clients_relay_the_visitors_context(banner, api_key):
    server = Visitor()
    body = {"placements": ["banner"], "context": {"user_agent": IPHONE, "url": "https://x.test/"}}
    response = decide(server, body, HTTP_AUTHORIZATION=api_key)
    assert response.json()["placements"]["banner"]["variant"] == MOBILE_VARIANT
    assert response.json()["visitor_token"] is None


@pytest.mark.parametrize("buffered", [False, True], ids=["database", "redis-buffer"])
def test_impressions_are_recorded_in_one_write_with_consent_only(
    buffered, settings, banner, cta, vip, phone
):
    """One write for the whole call: an INSERT, or none at all when Redis buffers them. Which
    one is expected follows from the settings, not from asking the code under test."""
    if buffered and impression_buffer_missing():
        pytest.skip("the buffer needs Redis as the cache (REDIS_URL)")
    settings.PERSONALIZATION_IMPRESSION_BUFFER = buffered
    decide(vip, {"placements": ["banner", "cta"]})  # warm caches
    flush_impressions()
    with CaptureQueriesContext(connection) as queries:
        body = decide(vip, {"placements": ["banner", "cta"]}).json()
    inserts = [q for q in queries.captured_queries if "INSERT" in q["sql"]]
    assert len(inserts) == (0 if buffered else 1)
    assert len(queries) <= 1, [q["sql"] for q in queries.captured_queries]
    flush_impressions()
    decided = {str(i.decision_id): i for i in Impression.objects.filter(visitor_id=vip.id)}
    mine = decided[body["placements"]["banner"]["decision_id"]]
    assert (mine.placement, mine.variant_id, mine.segments) == ("banner", VIP_VARIANT, ["vip"])
    assert decided[body["placements"]["cta"]["decision_id"]].variant_id == ""

    decide(phone, {"placements": ["banner"]})  # no consent, no id: nothing stored
    flush_impressions()
    assert Impression.objects.exclude(visitor_id=vip.id).count() == 0


def test_clicks_carry_the_decision_id(banner, vip):
    decision = decide(vip, {"placements": ["banner"]}).json()["placements"]["banner"]
    flush_impressions()
    response = vip.send(
        {"type": "click", "properties": {"decision_id": decision["decision_id"], "target": "cta"}}
    )
    assert response.status_code == 202, response.content
    click = Event.objects.get(visitor_id=vip.id, type="click")
    impression = Impression.objects.get(decision_id=click.properties["decision_id"])
    assert impression.variant_id == VIP_VARIANT

    bad = vip.send({"type": "click", "properties": {"decision_id": "nope"}})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "events[0].properties.decision_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "placements"),
        ({"placements": []}, "placements"),
        ({"placements": ["banner", "nope"]}, "placements"),
        ({"placements": ["bad slug!"]}, "placements"),
        ({"placements": ["banner"], "context": {"timezone": "Mars/Olympus"}}, "timezone"),
        ({"placements": ["banner"], "context": {"country": "France"}}, "context"),
        ({"placements": ["banner"], "include_html": "maybe"}, "include_html"),
        ({"placements": "banner"}, "placements"),
    ],
)
def test_bad_bodies_are_400s_naming_the_field(banner, regular, body, field):
    response = decide(regular, body)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_unknown_placement_names_its_index(banner, regular):
    response = decide(regular, {"placements": ["banner", "nope"]})
    assert response.json() == {"placements": {"1": ["No personalized content with this slug."]}}


def test_forged_visitor_token_is_rejected(banner):
    stranger = Visitor()
    response = decide(stranger, {"placements": ["banner"], "visitor_id": f"{uuid.uuid4()}:x"})
    assert response.status_code == 400
    assert "visitor_id" in response.json()


def test_editing_a_snippet_is_seen_at_once(banner, regular):
    assert (
        decide(regular, {"placements": ["banner"]}).json()["placements"]["banner"]["content"][0][
            "value"
        ]
        == FALLBACK_TEXT
    )
    banner.fallback = [{"type": "heading", "value": "CHANGED"}]
    banner.save()
    answer = decide(regular, {"placements": ["banner"]}).json()
    assert answer["placements"]["banner"]["content"][0]["value"] == "CHANGED"


def test_impressions_are_exported_erased_and_expire(banner, vip, settings):
    decide(vip, {"placements": ["banner"]})
    flush_impressions()
    exported = export_visitor(vip.id)["tables"]["personalization.Impression"]
    assert [row["placement"] for row in exported] == ["banner"]

    settings.PERSONALIZATION_IMPRESSION_RETENTION_DAYS = 30
    Impression.objects.update(created_at=timezone.now() - timedelta(days=31))
    decide(vip, {"placements": ["banner"]})
    flush_impressions()
    assert purge_expired_data()["impression"] == 1
    assert Impression.objects.filter(visitor_id=vip.id).count() == 1

    erase_visitor(vip.id)
    assert not Impression.objects.filter(visitor_id=vip.id).exists()

    decide(vip, {"placements": ["banner"]})  # the erased visitor's token no longer has consent
    flush_impressions()
    assert not Impression.objects.exists()


@pytest.mark.skipif(impression_buffer_missing(), reason="the buffer needs Redis as the cache")
def test_buffered_impressions_wait_for_the_flush_and_respect_consent(banner, vip, regular):
    decide(vip, {"placements": ["banner"]})
    decide(regular, {"placements": ["banner"]})
    assert not Impression.objects.exists()
    regular.consent(analytics=False, personalization=False)  # withdrawn while waiting
    assert flush_impressions() == 1
    assert list(Impression.objects.values_list("visitor_id", flat=True)) == [vip.id]
    assert flush_impressions() == 0  # nothing left, nothing written twice

    decide(vip, {"placements": ["banner"]})
    erase_visitor(vip.id)  # buffered rows are erased too
    flush_impressions()
    assert not Impression.objects.exists()


@pytest.mark.skipif(
    not impression_buffer_missing(),
    reason="with Redis, test_a_warm_decide_is_one_redis_round_trip_and_no_sql counts round trips",
)
def test_a_warm_decide_is_one_cache_round_trip(banner, cta, vip, monkeypatch, settings):
    from django.core.cache import cache

    settings.PERSONALIZATION_THROTTLE_RATES = {}  # throttling has its own round trips
    decide(vip, {"placements": ["banner", "cta"]})  # warm: definitions compiled, snapshot cached
    calls, depth = [], [0]
    for name in ("get", "get_many", "set", "add", "delete", "incr", "set_many"):
        original = getattr(cache, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            if not depth[0]:  # a backend's get_many may loop over get: one round trip
                calls.append(_name)
            depth[0] += 1
            try:
                return _original(*args, **kwargs)
            finally:
                depth[0] -= 1

        monkeypatch.setattr(cache, name, counted)
    with CaptureQueriesContext(connection) as queries:
        assert decide(vip, {"placements": ["banner", "cta"]}).status_code == 200
    monkeypatch.undo()
    # Versions, snapshot and its generation in one get_many.
    assert calls == ["get_many"], calls
    assert len(queries) <= 1  # the impressions' INSERT, unless Redis buffers them


@pytest.mark.skipif(impression_buffer_missing(), reason="counts round trips to a real Redis")
@pytest.mark.parametrize(
    ("extra_segments", "extra_placements", "experiments"), [(0, 0, 0), (30, 4, 2)]
)
def test_a_warm_decide_is_one_redis_round_trip_and_no_sql(
    banner, cta, vip, settings, extra_segments, extra_placements, experiments
):
    """Versions, snapshot and generation are read, the rate limits counted, and the
    impressions (and exposures) the previous call left waiting appended, in one round trip,
    whatever the number of segments, placements and experiments. No ``redis.Redis`` is built
    (Django's Redis cache builds one per call)."""
    from ..experiments.conftest import make_experiment
    from .conftest import make_segment

    # The default rate limits apply: they are counted in the same round trip.
    settings.PERSONALIZATION_IMPRESSION_BUFFER = True
    for n in range(extra_segments):
        rules = (
            {"type": "trait", "params": {"name": "tier", "op": "equals", "value": f"t{n}"}}
            if n % 2
            else {"type": "device", "params": {"in": ["mobile"]}}
        )
        make_segment(f"extra-{n}", rules)
    extra = [f"extra-{n}" for n in range(extra_placements)]
    for slug in extra:
        PersonalizedContent.objects.create(
            name=slug, slug=slug, fallback=[{"type": "paragraph", "value": "<p>x</p>"}]
        )
    for placement in ["banner", *extra][:experiments]:
        make_experiment(placement)
    body = {"placements": ["banner", "cta", *extra]}
    decide(vip, body)  # warm: definitions compiled, snapshot cached
    flush_impressions()
    first = decide(vip, body).json()  # leaves its rows waiting, as a busy server's last call
    with redis_traffic() as seen, CaptureQueriesContext(connection) as queries:
        second = decide(vip, body)
    assert second.status_code == 200, second.content
    assert seen == {"round_trips": 1, "clients_built": 0}, seen
    assert [q["sql"] for q in queries.captured_queries] == []
    # Nothing was lost on the way: both calls' impressions reach the database.
    flush_impressions()
    ids = {
        item["decision_id"]
        for answer in (first, second.json())
        for item in answer["placements"].values()
    }
    stored = set(
        map(
            str,
            Impression.objects.filter(decision_id__in=ids).values_list("decision_id", flat=True),
        )
    )
    assert stored == ids and len(ids) == 2 * len(body["placements"])
    if experiments:
        from personalization.experiments.models import Exposure
        from personalization.experiments.services import flush_exposures

        flush_exposures()
        decided_by_arms = {
            item["decision_id"]
            for answer in (first, second.json())
            for item in answer["placements"].values()
            if item["experiment"]
        }
        assert decided_by_arms  # the experiments did decide placements here
        exposed = Exposure.objects.filter(decision_id__in=ids).values_list("decision_id", flat=True)
        assert set(map(str, exposed)) == decided_by_arms
