"""Visitor ids: signed cookies, forged ids, login merge, two devices, logout."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from personalization.events.models import Event
from personalization.profiles.models import VisitorAlias, VisitorProfile
from personalization.profiles.snapshot import get_snapshot

from .conftest import CONSENT_URL, PROFILE_URL, Visitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", password="pw-alice-123")


def login(v: Visitor, user) -> None:
    response = v.client.post(
        "/accounts/login/", {"username": user.username, "password": "pw-alice-123"}
    )
    assert response.status_code == 302


def test_forged_cookie_is_ignored_and_dropped(visitor):
    visitor.client.cookies["pz_vid"] = visitor.token[:-3] + "abc"
    response = visitor.client.get(CONSENT_URL)
    assert response.json()["visitor_token"] is None
    assert response.cookies["pz_vid"].value == ""  # deleted


def test_a_rotated_secret_key_refuses_old_tokens_unless_kept_as_a_fallback(visitor, settings):
    """Verified tokens are remembered per process: never across a change of key."""
    header = {"HTTP_X_VISITOR_ID": visitor.token}
    assert visitor.client.get(PROFILE_URL, **header).status_code == 200
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-" + "k" * 50
    refused = visitor.client.get(PROFILE_URL, **header)
    assert refused.status_code == 400 and "X-Visitor-Id" in refused.json(), refused.content
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert visitor.client.get(PROFILE_URL, **header).status_code == 200
    # The answer's token is signed with the new key.
    renewed = visitor.client.get(CONSENT_URL, **header).json()["visitor_token"]
    assert renewed.split(":")[0] == visitor.token.split(":")[0] and renewed != visitor.token


def test_login_merges_the_anonymous_profile_into_the_users(alice):
    laptop = Visitor()
    laptop.consent(analytics=True, personalization=True)
    laptop.send({"type": "page_view", "id": "l1", "properties": {"tags": ["ai"]}})
    login(laptop, alice)
    profile = VisitorProfile.objects.get(user=alice)
    assert profile.visitor_id == laptop.id  # the first device's profile becomes the user's

    phone = Visitor()
    phone.consent(analytics=True, personalization=True)
    phone.send_signed(
        {"type": "page_view", "id": "p1", "properties": {"tags": ["ai"]}},
        {"type": "purchase", "id": "p2", "properties": {"value": 30}},
    )
    login(phone, alice)
    assert VisitorProfile.objects.count() == 1
    snap = get_snapshot(profile.visitor_id)
    assert snap.count("page_view", "tag:ai") == 2
    assert (snap.event_count, snap.purchase_count, snap.monetary_total) == (3, 1, 30.0)
    assert Event.objects.filter(visitor_id=profile.visitor_id).count() == 3
    assert VisitorAlias.objects.filter(alias_id=phone.id, profile=profile).exists()
    # The old phone id still resolves to the merged profile, and the cookie moved to it.
    assert get_snapshot(phone.id).visitor_id == profile.visitor_id
    me = phone.client.get(PROFILE_URL).json()
    assert me["visitor_id"] == str(profile.visitor_id) and me["event_count"] == 3


def test_merging_twice_counts_nothing_twice(alice):
    from personalization.profiles.identity import merge_visitors

    a, b = Visitor(), Visitor()
    for v in (a, b):
        v.consent(analytics=True, personalization=True)
        v.send_signed({"type": "click", "id": "same-key"}, {"type": "signup"})
    merge_visitors(a.id, b.id)
    merge_visitors(a.id, b.id)
    snap = get_snapshot(b.id)
    assert snap.count("click") == 2  # both were real clicks, counted before the merge
    assert Event.objects.filter(visitor_id=b.id).count() == 3  # the same key is one event


def test_logout_drops_the_cookie_so_the_next_person_starts_fresh(alice):
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    login(v, alice)
    response = v.client.post("/accounts/logout/")
    assert response.cookies["pz_vid"].value == ""


def test_another_users_profile_is_never_merged(alice):
    bob = get_user_model().objects.create_user("bob", password="pw-alice-123")
    shared = Visitor()
    shared.consent(analytics=True, personalization=True)
    shared.send({"type": "click"})
    login(shared, alice)
    shared.client.cookies["pz_vid"] = shared.token  # logout skipped: cookie still alice's
    shared.client.logout()
    login(shared, bob)
    assert VisitorProfile.objects.get(visitor_id=shared.id).user == alice
    assert not VisitorProfile.objects.filter(user=bob).exists()


def test_api_calls_never_create_a_session(visitor):
    response = visitor.send({"type": "click"})
    assert "sessionid" not in response.cookies
    assert "sessionid" not in visitor.client.get(CONSENT_URL).cookies


def test_a_logged_in_user_who_consents_gets_a_profile_of_their_own(alice):
    laptop = Visitor()
    login(laptop, alice)
    laptop.consent(analytics=True, personalization=True)
    laptop.send_signed({"type": "signup", "id": "s1"})
    profile = VisitorProfile.objects.get(user=alice)
    assert profile.visitor_id == laptop.id and profile.event_count == 1
    phone = Visitor()  # the same user on another device sees the same profile after login
    login(phone, alice)
    assert phone.client.get(PROFILE_URL).json()["event_count"] == 1
