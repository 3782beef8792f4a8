"""Consent per purpose: API, Python function, defaults, signals, history."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from django.utils import timezone

from personalization.consent.models import ConsentChange, ConsentRecord
from personalization.consent.services import InvalidChoice, record_consent
from personalization.events.models import Event
from personalization.profiles.selectors import has_consent

from .conftest import CONSENT_URL, Visitor

pytestmark = pytest.mark.django_db


def test_new_visitor_sees_the_defaults_and_gets_no_cookie():
    response = Visitor().client.get(CONSENT_URL)
    assert response.status_code == 200
    purposes = response.json()["purposes"]
    assert purposes["necessary"] == {"granted": True, "source": "default", "updated_at": None}
    assert purposes["analytics"]["granted"] is False
    assert "pz_vid" not in response.cookies


def test_recording_consent_sets_a_signed_cookie_and_timestamps():
    v = Visitor()
    response = v.consent(analytics=True, marketing=False)
    cookie = response.cookies["pz_vid"]
    assert cookie.value == v.token and cookie["httponly"] and cookie["samesite"] == "Lax"
    state = v.client.get(CONSENT_URL).json()["purposes"]
    assert state["analytics"]["granted"] is True and state["analytics"]["source"] == "explicit"
    assert state["analytics"]["updated_at"]
    assert state["marketing"]["granted"] is False
    assert state["personalization"] == {"granted": False, "source": "default", "updated_at": None}


def test_withdrawal_stops_collection_and_history_is_kept():
    v = Visitor()
    v.consent(analytics=True)
    assert v.send({"type": "click", "id": "a"}).json()["accepted"] == 1
    v.consent(analytics=False)
    assert v.send({"type": "click", "id": "b"}).json()["ignored_reason"] == "no_consent"
    assert Event.objects.count() == 1
    history = list(ConsentChange.objects.filter(visitor_id=v.id).values_list("granted", flat=True))
    assert history == [True, False]


def test_necessary_cannot_be_refused():
    v = Visitor()
    v.consent(necessary=False)
    assert v.client.get(CONSENT_URL).json()["purposes"]["necessary"]["granted"] is True


@pytest.mark.parametrize(
    "body, field",
    [
        ({"purposes": {"advertising": True}}, "purposes"),
        ({"purposes": {"analytics": "maybe"}}, "purposes"),
        ({"purposes": {}}, "purposes"),
        ({}, "purposes"),
        ({"purposes": {"analytics": True}, "visitor_id": "forged"}, "visitor_id"),
    ],
)
def test_bad_consent_bodies_are_400s(body, field):
    response = Visitor().client.post(CONSENT_URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("value", ["yes", "on", "true", 1, 0, "no", None, [True]])
def test_consent_answers_are_booleans_only(value):
    response = Visitor().client.post(CONSENT_URL, {"purposes": {"analytics": value}}, format="json")
    assert response.status_code == 400
    assert "analytics" in response.json()["purposes"]
    assert "pz_vid" not in response.cookies
    assert not ConsentRecord.objects.exists()


@pytest.mark.parametrize("value", ["yes", "on", "no", 1, 0, None])
def test_record_consent_takes_booleans_only(value):
    """``bool("no")`` is true: a truthy check would store a refusal sent as text as a grant."""
    vid = uuid.uuid4()
    with pytest.raises(InvalidChoice) as raised:
        record_consent(vid, {"personalization": True, "analytics": value})
    assert raised.value.field == "analytics"
    assert not ConsentRecord.objects.filter(visitor_id=vid).exists()


def test_gpc_overrides_stored_consent_and_the_api_says_so():
    v = Visitor()
    before = timezone.now()
    v.consent(analytics=True, personalization=True)
    after = timezone.now()
    stored = v.client.get(CONSENT_URL).json()["purposes"]["analytics"]
    assert stored["granted"] is True and stored["source"] == "explicit"
    recorded = datetime.fromisoformat(stored["updated_at"])
    assert before <= recorded <= after

    state = v.client.get(CONSENT_URL, HTTP_SEC_GPC="1").json()["purposes"]
    # The signal wins over the stored choice, whose time is still the one it was recorded at.
    assert state["analytics"] == {
        "granted": False,
        "source": "signal",
        "updated_at": stored["updated_at"],
    }
    assert state["personalization"]["granted"] is False


def test_python_has_consent(settings):
    v = Visitor()
    v.consent(personalization=True)
    assert has_consent(v.id, "personalization")
    assert not has_consent(v.id, "analytics")
    assert not has_consent(v.id, "personalization", dnt=True)
    assert not has_consent(None, "analytics")
    settings.PERSONALIZATION_CONSENT_DEFAULTS = {"analytics": True}
    assert has_consent(uuid.uuid4(), "analytics")
    with pytest.raises(ValueError):
        has_consent(v.id, "astrology")
