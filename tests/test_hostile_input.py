"""Hostile input at every JSON edge: deep nesting, NUL bytes, lone surrogates, numbers past a
column's range. Each is a 400 naming the field (never a 500), and a bad row that got stored
anyway never blocks folding for anyone else."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from personalization.consent.services import record_consent
from personalization.events.models import Event
from personalization.events.validation import validate_events
from personalization.profiles.folding import fold_stragglers
from personalization.profiles.models import ProfileCounter, VisitorProfile
from personalization.profiles.traits import TraitError, set_traits
from personalization.tasks import fold_profile, fold_straggling_events

from .conftest import CONSENT_URL, EVENTS_URL

pytestmark = pytest.mark.django_db

DECIDE_URL = "/api/personalization/v1/decide"
# The largest number NUMERIC(14, 2) holds, worked out by hand: 12 nines, point, 2 nines.
COLUMN_MAX = Decimal("999999999999.99")


def post(client, url, raw: str, token=None, content_type="application/json", **extra):
    headers = {"HTTP_X_VISITOR_ID": token} if token else {}
    return client.post(url, raw, content_type=content_type, **headers, **extra)


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    "url, body",
    [
        (EVENTS_URL, '{"events":[{"type":"click","properties":' + nested(1000) + "}]}"),
        (DECIDE_URL, '{"placements":["x"],"context":' + nested(1000) + "}"),
        (CONSENT_URL, '{"purposes":' + "[" * 1000 + "]" * 1000 + "}"),
        (EVENTS_URL, "[" * 100_000),  # not even balanced
    ],
)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_deep_nesting_is_a_400_not_a_500(visitor, url, body, content_type):
    response = post(visitor.client, url, body, visitor.token, content_type=content_type)
    if content_type == "text/plain":  # never parsed at all (cross-site without a preflight)
        assert response.status_code == 415, response.content[:300]
        return
    assert response.status_code == 400, response.content[:300]
    assert "body" in response.json() or "detail" in response.json()


def test_nesting_within_the_bound_parses(visitor, settings):
    settings.PERSONALIZATION_MAX_JSON_DEPTH = 4
    # events -> list -> event -> properties: depth 4, brackets inside strings do not count
    ok = '{"events":[{"type":"click","properties":{"note":"[[[[{{{{"}}]}'
    assert post(visitor.client, EVENTS_URL, ok, visitor.token).status_code == 202
    deeper = '{"events":[{"type":"click","properties":{"tags":["a"]}}]}'
    response = post(visitor.client, EVENTS_URL, deeper, visitor.token)
    assert response.status_code == 400
    assert response.json() == {"body": ["JSON nested deeper than 4 levels."]}


@pytest.mark.parametrize("bad", ["a\u0000b", "\ud800", "x\udfffy"])
@pytest.mark.parametrize(
    "properties, field",
    [
        ({"note": "{}"}, "events[0].properties.note"),
        ({"tags": ["ok", "{}"]}, "events[0].properties.tags[1]"),
        ({"category": "{}"}, "events[0].properties.category"),
    ],
)
def test_nul_and_lone_surrogates_in_events_are_a_400_naming_the_field(
    visitor, bad, properties, field
):
    raw = json.dumps({"events": [{"type": "click", "properties": properties}]})
    raw = raw.replace('"{}"', json.dumps(bad))  # json.dumps escapes: \u0000, \ud800
    response = post(visitor.client, EVENTS_URL, raw, visitor.token)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Event.objects.exists()


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_numbers_are_a_400_naming_the_field(visitor, number):
    """The parser finds them (json.loads reads NaN/Infinity, and 1e999 as inf) by path."""
    raw = '{"purposes": {"analytics": true, "marketing": NUMBER}}'.replace("NUMBER", number)
    response = post(visitor.client, CONSENT_URL, raw, visitor.token)
    assert response.status_code == 400, response.content
    assert response.json() == {"purposes.marketing": ["Must be a finite number."]}


@pytest.mark.parametrize(
    "url, body, field",
    [
        (DECIDE_URL, {"placements": ["x"], "context": {"url": "/a\u0000"}}, "context.url"),
        (CONSENT_URL, {"purposes": {"analytics\ud800": True}}, "purposes"),
        (EVENTS_URL, {"events": [{"type": "cl\u0000ick"}]}, "events[0].type"),
    ],
)
def test_nul_and_surrogates_elsewhere_are_a_400(visitor, url, body, field):
    response = post(visitor.client, url, json.dumps(body), visitor.token)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_traits_with_nul_or_surrogates_are_refused(visitor, api_key):
    url = f"/api/personalization/v1/visitors/{visitor.id}/traits"
    raw = json.dumps({"traits": {"tier": "gold\u0000"}})
    response = visitor.client.post(
        url, raw, content_type="application/json", HTTP_AUTHORIZATION=api_key
    )
    assert response.status_code == 400
    assert "traits.tier" in response.json()
    for traits, field in [
        ({"tier": "\ud800"}, "traits.tier"),
        ({"tags": ["a", "b\u0000"]}, "traits.tags[1]"),
        ({"score": float("inf")}, "traits.score"),
    ]:
        with pytest.raises(TraitError) as caught:
            set_traits(visitor.id, traits)
        assert caught.value.field == field


def test_python_callers_get_the_same_text_checks():
    """Server-side capture and imports validate with validate_events, not the parser."""
    events, errors = validate_events(
        [{"type": "click", "properties": {"title": "a\u0000"}}, {"type": "click"}]
    )
    assert len(events) == 1
    assert errors == [
        {
            "index": 0,
            "field": "events[0].properties.title",
            "message": "Contains a NUL character (U+0000).",
        }
    ]


def test_values_past_the_column_range_are_refused(visitor):
    response = visitor.send_signed(
        {"type": "purchase", "id": "huge", "properties": {"value": 1e13}},
        {"type": "purchase", "id": "max", "properties": {"value": 1_000_000_000}},
        {"type": "page_view", "id": "page", "properties": {"page_id": 2**70}},
    )
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1
    assert [e["field"] for e in body["errors"]] == [
        "events[0].properties.value",
        "events[2].properties.page_id",
    ]
    assert visitor.profile()["rfm"]["monetary"] == 1e9


def test_sums_stop_at_the_column_maximum(visitor):
    visitor.send_signed({"type": "purchase", "id": "p1", "properties": {"value": 10}})
    profile = VisitorProfile.objects.get(visitor_id=visitor.id)
    VisitorProfile.objects.filter(pk=profile.pk).update(monetary_total=COLUMN_MAX - 5)
    ProfileCounter.objects.filter(profile=profile).update(value=COLUMN_MAX - 5)
    response = visitor.send_signed({"type": "purchase", "id": "p2", "properties": {"value": 999}})
    assert response.status_code == 202 and response.json()["accepted"] == 1
    profile.refresh_from_db()
    assert profile.monetary_total == COLUMN_MAX
    assert profile.purchase_count == 2
    values = set(ProfileCounter.objects.filter(profile=profile).values_list("value", flat=True))
    assert values == {COLUMN_MAX}
    assert not Event.objects.filter(folded=False).exists()


def _stored(visitor_id, key, properties, received_at):
    """A row as an older release (before range validation) could have stored it."""
    return Event.objects.create(
        visitor_id=visitor_id,
        key=key,
        type="purchase",
        timestamp=received_at,
        received_at=received_at,
        properties=properties,
    )


def test_a_poison_event_is_quarantined_and_blocks_no_one(settings, caplog):
    settings.PERSONALIZATION_FOLD_MODE = "task"  # nothing folds on ingest; the sweep does
    old = timezone.now() - timedelta(minutes=10)
    bad, good = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    for vid in [bad, *good]:
        record_consent(vid, {"analytics": True, "personalization": True})
    poison = _stored(bad, "poison", {"value": 1e13}, old)
    _stored(bad, "fine", {"value": 5}, old + timedelta(seconds=1))
    for n, vid in enumerate(good):
        _stored(vid, f"g{n}", {"value": 7}, old)
    with caplog.at_level(logging.ERROR, logger="personalization.profiles.folding"):
        assert fold_straggling_events() == 4
    poison.refresh_from_db()
    assert poison.folded and poison.quarantined
    assert f"Quarantined event {poison.pk} of visitor {bad}" in caplog.text
    assert not Event.objects.filter(folded=False).exists()
    assert Event.objects.filter(quarantined=True).count() == 1
    totals = dict(VisitorProfile.objects.values_list("visitor_id", "monetary_total"))
    assert totals == {bad: Decimal("5.00"), **{vid: Decimal("7.00") for vid in good}}
    # The fold task itself never fails (and never retries) on the quarantined row again.
    assert fold_profile(str(bad)) == 0


def test_the_sweep_continues_past_a_visitor_that_fails(settings, monkeypatch, caplog):
    settings.PERSONALIZATION_FOLD_MODE = "task"
    old = timezone.now() - timedelta(minutes=10)
    vids = [uuid.uuid4() for _ in range(4)]
    for n, vid in enumerate(vids):
        record_consent(vid, {"analytics": True, "personalization": True})
        _stored(vid, f"e{n}", {"value": 1}, old)
    from personalization.profiles import folding

    real = folding.fold_visitor
    broken = vids[0]

    def flaky(visitor_id, **kwargs):
        if uuid.UUID(str(visitor_id)) == broken:
            raise ConnectionError("database went away")
        return real(visitor_id, **kwargs)

    monkeypatch.setattr(folding, "fold_visitor", flaky)
    with caplog.at_level(logging.ERROR, logger="personalization.profiles.folding"):
        assert fold_stragglers() == 3
    assert f"Folding visitor {broken} failed" in caplog.text
    assert list(Event.objects.filter(folded=False).values_list("visitor_id", flat=True)) == [broken]
