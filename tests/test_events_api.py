"""POST /events: validation, idempotency, consent and bot gates, limits."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from personalization.events.models import Event
from personalization.profiles.models import VisitorProfile

from .conftest import EVENTS_URL, Visitor, token_for

IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)

pytestmark = pytest.mark.django_db


def test_batch_is_stored_and_counted(visitor):
    response = visitor.send_signed(
        {"type": "page_view", "id": "e1", "properties": {"page_id": 3, "tags": ["Pricing"]}},
        {"type": "purchase", "id": "e2", "properties": {"value": 49.5, "currency": "EUR"}},
    )
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 0)
    assert Event.objects.filter(visitor_id=visitor.id).count() == 2
    profile = visitor.profile()
    assert profile["event_count"] == 2
    assert profile["counts"]["page_view|tag:pricing"] == 1
    assert profile["rfm"]["monetary"] == 49.5


def test_bad_events_get_errors_naming_the_field_and_good_ones_are_kept(visitor):
    now = timezone.now()
    response = visitor.send_signed(
        {"type": "page_view", "id": "ok-1"},
        {"type": "teleport"},
        {"type": "purchase", "properties": {"value": "lots"}},
        {"type": "purchase"},
        {"type": "click", "timestamp": (now + timedelta(days=2)).isoformat()},
        {"type": "click", "timestamp": (now - timedelta(days=3 * 365)).isoformat()},
        {"type": "click", "timestamp": "yesterday"},
        {"type": "click", "timestamp": "2026-01-01T10:00:00"},
        {"type": "search", "properties": {"query": 42}},
        "not an object",
        {"type": "click", "id": "has spaces"},
        {"type": "click", "properties": ["a"]},
        {"type": "click", "colour": "red"},
    )
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1
    assert body["rejected"] == 12
    fields = {e["index"]: e["field"] for e in body["errors"]}
    assert fields == {
        1: "events[1].type",
        2: "events[2].properties.value",
        3: "events[3].properties.value",
        4: "events[4].timestamp",
        5: "events[5].timestamp",
        6: "events[6].timestamp",
        7: "events[7].timestamp",
        8: "events[8].properties.query",
        9: "events[9]",
        10: "events[10].id",
        11: "events[11].properties",
        12: "events[12].colour",
    }
    assert Event.objects.filter(visitor_id=visitor.id).count() == 1


def test_batch_with_only_bad_events_is_a_400(visitor):
    response = visitor.send({"type": "nope"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "events[0].type"


def test_same_event_twice_is_stored_and_counted_once(visitor):
    event = {"type": "click", "id": "click-1", "properties": {"tags": ["x"]}}
    first = visitor.send(event, event)
    second = visitor.send(event)
    assert (first.json()["accepted"], first.json()["duplicates"]) == (1, 1)
    assert (second.json()["accepted"], second.json()["duplicates"]) == (0, 1)
    assert Event.objects.filter(visitor_id=visitor.id).count() == 1
    assert visitor.profile()["counts"]["click|"] == 1


def test_events_without_ids_are_deduplicated_by_content(visitor):
    ts = timezone.now().isoformat()
    event = {"type": "search", "timestamp": ts, "properties": {"query": "pricing"}}
    visitor.send(event)
    again = visitor.send(event)
    assert again.json()["duplicates"] == 1
    assert visitor.profile()["event_count"] == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "events"),
        ({"events": []}, "events"),
        ({"events": "page_view"}, "events"),
        ({"events": [{"type": "click"}], "context": {"country": "Germany"}}, "context"),
        ([1, 2], "body"),
    ],
)
def test_malformed_batches_name_the_field(visitor, body, field):
    response = visitor.client.post(
        EVENTS_URL,
        json.dumps(body),
        content_type="application/json",
        HTTP_X_VISITOR_ID=visitor.token,
    )
    assert response.status_code == 400
    assert field in response.json()


def test_batch_over_the_limit_is_refused(visitor, settings):
    settings.PERSONALIZATION_MAX_BATCH_SIZE = 5
    response = visitor.send(*[{"type": "click"} for _ in range(6)])
    assert response.status_code == 400
    assert "events" in response.json()
    assert not Event.objects.exists()


def test_oversized_body_is_a_413(visitor, settings):
    settings.PERSONALIZATION_MAX_BODY_BYTES = 2000
    response = visitor.send(
        {"type": "search", "properties": {"query": "x" * 900, "q2": "y" * 900}},
        {"type": "click", "properties": {"t": "z" * 500}},
    )
    assert response.status_code == 413
    assert "body" in response.json()


def test_invalid_json_is_a_400(visitor):
    response = visitor.client.post(
        EVENTS_URL, "{not json", content_type="application/json", HTTP_X_VISITOR_ID=visitor.token
    )
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["detail"]


def test_sendbeacon_json_body_with_token_in_body(visitor):
    body = json.dumps({"visitor_id": visitor.token, "events": [{"type": "click"}]})
    client = Visitor().client  # no cookie: identified by the body token only
    response = client.post(EVENTS_URL, body, content_type="application/json")
    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    # text/plain (what a cross-site page can send without a preflight) is not parsed at all.
    plain = client.post(EVENTS_URL, body, content_type="text/plain")
    assert plain.status_code == 415


def test_forged_visitor_id_is_rejected(visitor):
    forged = str(uuid.uuid4().hex) + ":forgedsignature"
    response = visitor.client.post(
        EVENTS_URL,
        json.dumps({"events": [{"type": "click"}]}),
        content_type="application/json",
        HTTP_X_VISITOR_ID=forged,
    )
    assert response.status_code == 400
    assert "X-Visitor-Id" in response.json()
    bare = visitor.client.post(
        EVENTS_URL,
        json.dumps({"visitor_id": str(uuid.uuid4()), "events": [{"type": "click"}]}),
        content_type="application/json",
    )
    assert bare.status_code == 400
    assert "visitor_id" in bare.json()
    assert not Event.objects.exclude(visitor_id=visitor.id).exists()


def test_no_consent_stores_nothing():
    stranger = Visitor()
    response = stranger.send({"type": "page_view"})
    # Not a 202: nothing was accepted, and the header says so where a status check looks.
    assert response.status_code == 200
    assert response.headers["Personalization-Ignored"] == "no_consent; count=1"
    assert response.json()["ignored_reason"] == "no_consent"
    assert response.json()["visitor_token"] is None
    assert "pz_vid" not in response.cookies
    assert not Event.objects.exists() and not VisitorProfile.objects.exists()


def test_only_necessary_consent_stores_nothing():
    cautious = Visitor()
    cautious.consent(analytics=False, personalization=False)
    response = cautious.send({"type": "page_view"})
    assert response.json()["ignored"] == 1
    assert not Event.objects.exists()


@pytest.mark.parametrize("header", ["HTTP_DNT", "HTTP_SEC_GPC"])
def test_do_not_track_and_gpc_are_honoured_even_after_consent(visitor, header):
    response = visitor.client.post(
        EVENTS_URL,
        json.dumps({"events": [{"type": "page_view"}]}),
        content_type="application/json",
        HTTP_X_VISITOR_ID=visitor.token,
        **{header: "1"},
    )
    assert response.status_code == 200
    assert response.headers["Personalization-Ignored"] == "do_not_track; count=1"
    assert response.json()["ignored_reason"] == "do_not_track"
    assert not Event.objects.exists()


def test_bots_are_not_tracked(db):
    bot = Visitor(
        user_agent="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    )
    bot.consent(analytics=True, personalization=True)
    response = bot.send({"type": "page_view"}, {"type": "click"})
    assert response.status_code == 200
    assert response.headers["Personalization-Ignored"] == "bot; count=2"
    assert response.json()["ignored_reason"] == "bot"
    assert not Event.objects.exists()


def test_accepted_events_have_no_ignored_header(visitor):
    response = visitor.send({"type": "page_view"})
    assert response.status_code == 202
    assert "Personalization-Ignored" not in response.headers


@pytest.mark.parametrize("user_agent", ["curl/8.5.0", "", "Googlebot/2.1"])
def test_a_server_with_the_api_key_is_never_a_bot(visitor, api_key, user_agent):
    """The secret key's holder is the site's own server: from curl, or relaying any user
    agent, its events are stored."""
    server = Visitor(user_agent=user_agent).client
    response = server.post(
        EVENTS_URL,
        {
            "visitor_id": str(visitor.id),
            "events": [{"type": "page_view"}],
            "context": {"user_agent": user_agent},
        },
        format="json",
        HTTP_AUTHORIZATION=api_key,
    )
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == 1
    assert Event.objects.filter(visitor_id=visitor.id).count() == 1


def test_opt_out_mode_mints_an_id_for_new_visitors(db, settings):
    settings.PERSONALIZATION_CONSENT_DEFAULTS = {"analytics": True, "personalization": True}
    newcomer = Visitor()
    response = newcomer.send({"type": "page_view"})
    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    token = response.json()["visitor_token"]
    assert response.cookies["pz_vid"].value == token


def test_api_key_client_may_send_for_a_bare_uuid(visitor, api_key):
    server = Visitor().client
    response = server.post(
        EVENTS_URL,
        {
            "visitor_id": str(visitor.id),
            "events": [{"type": "page_view"}],
            "context": {
                "user_agent": IPAD,
                "country": "fr",
            },
        },
        format="json",
        HTTP_AUTHORIZATION=api_key,
    )
    assert response.status_code == 202, response.content
    profile = visitor.profile()
    assert (profile["device_type"], profile["country"]) == ("tablet", "FR")


def test_api_key_client_must_name_the_visitor(db, api_key):
    response = Visitor().client.post(
        EVENTS_URL, {"events": [{"type": "click"}]}, format="json", HTTP_AUTHORIZATION=api_key
    )
    assert response.status_code == 400
    assert "visitor_id" in response.json()


def test_unknown_api_key_is_a_401(db, api_key):
    response = Visitor().client.post(
        EVENTS_URL,
        {"events": [{"type": "click"}]},
        format="json",
        HTTP_AUTHORIZATION="Api-Key wrong",
    )
    assert response.status_code == 401


def test_visitor_is_throttled(visitor, settings):
    settings.PERSONALIZATION_THROTTLE_RATES = {"visitor": "3/min"}
    codes = [visitor.send({"type": "click", "id": f"c{i}"}).status_code for i in range(5)]
    assert codes == [202, 202, 202, 429, 429]
    other = Visitor()
    other.consent(analytics=True)
    assert other.send({"type": "click"}).status_code == 202


def test_client_ip_is_throttled_without_a_visitor(db, settings):
    settings.PERSONALIZATION_THROTTLE_RATES = {"anonymous": "2/min"}
    codes = [Visitor().send({"type": "click"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]  # no consent: ignored (200), then throttled


def test_event_api_answers_are_never_cached(visitor):
    """The events endpoint's own answer (decide's is checked in rendering/test_decide_api.py)."""
    response = visitor.send({"type": "click"})
    assert response.status_code == 202
    assert response["Cache-Control"] == "private, no-store"


def test_custom_event_type_via_hook(visitor, settings):
    # Hook-registered types are server-only until listed as browser-safe.
    settings.PERSONALIZATION_BROWSER_EVENT_TYPES = ["page_view", "webinar_join"]
    from wagtail import hooks

    from personalization import registry
    from personalization.registry import EventType

    def webinar_types():
        return [EventType("webinar_join", required={"webinar": (str,)})]

    registry._registry = None
    with hooks.register_temporarily("register_personalization_event_types", webinar_types):
        ok = visitor.send({"type": "webinar_join", "properties": {"webinar": "w1"}})
        bad = visitor.send({"type": "webinar_join"})
    registry._registry = None
    assert ok.json()["accepted"] == 1
    assert bad.json()["errors"][0]["field"] == "events[0].properties.webinar"


def test_token_helper_round_trip():
    vid = uuid.uuid4()
    assert token_for(vid).startswith(vid.hex)


def test_type_errors_name_each_kind_once(visitor):
    """A purchase value must be a number (int or float): the message says so once, not
    "Must be a number or number."."""
    response = visitor.send_signed(
        {"type": "purchase", "properties": {"value": "lots"}},
        {"type": "search", "properties": {"query": 42}},
        {"type": "page_view", "properties": {"tags": "security"}},
    )
    assert response.status_code == 400
    messages = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert messages == {
        "events[0].properties.value": "Must be a number.",
        "events[1].properties.query": "Must be a string.",
        "events[2].properties.tags": "Must be a list.",
    }


BATCH_BODIES = [
    {"events": [{"type": "click"}]},
    {"events": [{"type": "click"}], "visitor_id": "abc"},
    {"events": [{"type": "click"}], "visitor_id": " abc "},
    {"events": [{"type": "click"}], "visitor_id": ""},
    {"events": [{"type": "click"}], "visitor_id": None},
    {"events": [{"type": "click"}], "visitor_id": 12},
    {"events": [{"type": "click"}, None]},
    {"events": [{"type": "click"}, "x", 3]},
    {"events": []},
    {"events": {"type": "click"}},
    {"events": [{"type": "click"}] * 501},
    {"events": [{"type": "click"}], "other": 1},
    {"events": [{"type": "click"}], "context": None},
    {"events": [{"type": "click"}], "context": []},
    {"events": [{"type": "click"}], "context": {"url": "https://a.example/", "referrer": ""}},
    {"events": [{"type": "click"}], "context": {"url": " https://a.example/ "}},
    {"events": [{"type": "click"}], "context": {"url": "x" * 2001}},
    {"events": [{"type": "click"}], "context": {"url": 5}},
    {"events": [{"type": "click"}], "context": {"country": "de", "region": "BY"}},
    {"events": [{"type": "click"}], "context": {"country": "Germany"}},
    {"events": [{"type": "click"}], "context": {"country": ""}},
    {"events": [{"type": "click"}], "context": {"dnt": True, "gpc": False}},
    {"events": [{"type": "click"}], "context": {"dnt": "yes"}},
    {"events": [{"type": "click"}], "context": {"dnt": 1}},
    {"events": [{"type": "click"}], "context": {"language": "en\n"}},
    {"events": [{"type": "click"}], "context": {"mystery": {"a": 1}}},
]


@pytest.mark.parametrize("body", BATCH_BODIES)
def test_plain_batch_fast_path_agrees_with_the_serializer(body):
    """The fast path either declines (the serializer answers) or gives the serializer's data."""
    from personalization.api.v1.serializers import EventBatchSerializer, plain_event_batch

    fast = plain_event_batch(body)
    serializer = EventBatchSerializer(data=body)
    if fast is None:
        return
    assert serializer.is_valid(), serializer.errors
    assert json.loads(json.dumps(fast)) == json.loads(json.dumps(serializer.validated_data))


def test_plain_batches_take_the_fast_path():
    from personalization.api.v1.serializers import plain_event_batch

    plain = [BATCH_BODIES[i] for i in (0, 1, 11, 14, 18, 20, 21, 25)]
    assert all(plain_event_batch(body) is not None for body in plain)


def test_padded_context_is_trimmed_as_the_schema_says(visitor):
    response = visitor.send(
        {"type": "click", "id": "pad"}, context={"url": "  https://a.example/x  ", "region": " "}
    )
    assert response.status_code == 202
    stored = Event.objects.get(visitor_id=visitor.id, key="c:pad")
    assert stored.context["url"] == "https://a.example/x"


def test_a_batch_is_one_insert(visitor):
    """One statement stores the whole batch (and a re-sent batch finds every event stored)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    events = [
        {"type": "page_view", "id": f"b{i}", "properties": {"page_id": i, "tags": ["a", "b"]}}
        for i in range(100)
    ]
    with CaptureQueriesContext(connection) as queries:
        response = visitor.send(*events)
    assert response.status_code == 202
    assert response.json()["accepted"] == 100
    inserts = [
        q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "personalization_event"')
    ]
    assert len(inserts) == 1
    stored = Event.objects.filter(visitor_id=visitor.id).order_by("key")
    assert stored.count() == 100
    first = stored.get(key="c:b7")
    assert (first.type, first.properties, first.folded) == (
        "page_view",
        {"page_id": 7, "tags": ["a", "b"]},
        True,  # eager mode folds in the request
    )
    assert visitor.profile()["counts"]["page_view|tag:a"] == 100
    again = visitor.send(*events)
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 100)
