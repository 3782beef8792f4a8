"""Attacks from outside, through the HTTP API: what a security review tried, and what must hold.

Each test is written as the attacker's request, with the answer the plugin must give.
"""

from __future__ import annotations

import json

import pytest

from .conftest import CONSENT_URL, EVENTS_URL, PROFILE_URL, Visitor

pytestmark = pytest.mark.django_db


# -- rate limits and X-Forwarded-For ------------------------------------------------------------


def _anonymous_post(client, forwarded_for: str | None = None, remote: str = "203.0.113.7"):
    headers = {"REMOTE_ADDR": remote}
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post(
        EVENTS_URL,
        json.dumps({"events": [{"type": "click"}]}),
        content_type="application/json",
        **headers,
    )


def test_varying_x_forwarded_for_does_not_lift_the_rate_limit(settings):
    settings.PERSONALIZATION_THROTTLE_RATES = {"anonymous": "2/min"}
    codes = [
        _anonymous_post(Visitor().client, forwarded_for=f"198.51.100.{i}").status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 429, 429]  # 200: ignored without consent


def test_behind_one_trusted_proxy_the_address_it_saw_is_the_client(settings):
    settings.PERSONALIZATION_THROTTLE_RATES = {"anonymous": "2/min"}
    settings.PERSONALIZATION_NUM_PROXIES = 1
    # The proxy (REMOTE_ADDR 10.0.0.1) appends the client's address; whatever the client wrote
    # before it is ignored, so a forged prefix changes nothing.
    same_client = [
        _anonymous_post(Visitor().client, f"1.2.3.{i}, 198.51.100.9", remote="10.0.0.1")
        for i in range(3)
    ]
    assert [r.status_code for r in same_client] == [200, 200, 429]
    # Another real client behind the same proxy has its own budget.
    other = _anonymous_post(Visitor().client, "198.51.100.10", remote="10.0.0.1")
    assert other.status_code == 200


# -- a token minted before login is no key to the account ---------------------------------------


@pytest.fixture
def alice(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("alice", password="pw-alice-123")


def _login(v: Visitor) -> None:
    response = v.client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 302


def _attacker_with(token: str) -> Visitor:
    """Someone who copied the token (a shared computer, a leaked log) but has no session."""
    attacker = Visitor()
    attacker.token = token
    return attacker


@pytest.mark.parametrize("how", ["handed_over", "merged"])
def test_a_pre_login_token_grants_nothing_of_the_account(alice, how):
    # Alice's account already holds activity from another device: a purchase on her laptop.
    laptop = Visitor()
    laptop.consent(analytics=True, personalization=True)
    laptop.send_signed({"type": "purchase", "id": "laptop-1", "properties": {"value": 70}})
    _login(laptop)
    phone = Visitor()
    if how == "merged":  # the phone's anonymous profile is merged into the account
        phone.consent(analytics=True, personalization=True)
        phone.send({"type": "page_view", "id": "phone-1"})
        stolen = phone.token
        _login(phone)
    else:  # the laptop's own anonymous profile became the account's profile
        stolen = laptop.token
    account_id = str(laptop.id)

    attacker = _attacker_with(stolen)
    token_id = str(attacker.id)
    header = {"HTTP_X_VISITOR_ID": stolen}
    refused = [
        attacker.client.get(PROFILE_URL, **header),
        attacker.client.get(CONSENT_URL, **header),
        attacker.send({"type": "purchase", "id": "forged", "properties": {"value": 1}}),
        attacker.client.post(
            CONSENT_URL, {"purposes": {"marketing": True}}, format="json", **header
        ),
        attacker.client.get(f"/api/personalization/v1/visitors/{token_id}/export", **header),
        attacker.client.get(f"/api/personalization/v1/visitors/{account_id}/export", **header),
        attacker.client.delete(f"/api/personalization/v1/visitors/{token_id}", **header),
        attacker.client.delete(f"/api/personalization/v1/visitors/{account_id}", **header),
        attacker.client.post(
            "/api/personalization/v1/decide",
            {"placements": ["welcome-banner"]},
            format="json",
            **header,
        ),
    ]
    # 403, or 401 where the endpoint also takes an API key and none was sent.
    assert all(r.status_code in (401, 403) for r in refused), [
        (r.status_code, r.content[:200]) for r in refused
    ]
    assert "X-Visitor-Id" in refused[0].json()
    # Nothing was read out, written or erased: the account is as Alice left it.
    alice_view = laptop if how == "handed_over" else phone
    me = alice_view.client.get(PROFILE_URL).json()
    assert me["visitor_id"] == account_id
    assert (me["rfm"]["frequency"], me["rfm"]["monetary"]) == (1, 70.0)
    # Alice herself, with her session, reads and exports her account.
    export = alice_view.client.get(f"/api/personalization/v1/visitors/{account_id}/export")
    assert export.status_code == 200 and account_id in export.json()["visitor_ids"]


def test_a_stale_cookie_of_an_account_starts_a_new_anonymous_visitor(alice):
    laptop = Visitor()
    laptop.consent(analytics=True, personalization=True)
    laptop.send_signed({"type": "signup"})
    _login(laptop)
    cookie = laptop.client.cookies["pz_vid"].value
    browser = Visitor()  # the session is gone (expired, another browser), the cookie copied
    browser.client.cookies["pz_vid"] = cookie
    response = browser.client.get(CONSENT_URL)
    assert response.status_code == 200
    assert response.json()["visitor_token"] is None  # not the account's id
    assert response.cookies["pz_vid"].value == ""  # and the stale cookie is dropped


def test_a_token_of_an_anonymous_visitor_still_works(visitor):
    assert visitor.profile()["visitor_id"] == str(visitor.id)
    response = visitor.client.get(
        f"/api/personalization/v1/visitors/{visitor.id}/export", HTTP_X_VISITOR_ID=visitor.token
    )
    assert response.status_code == 200


# -- visitor tokens never in URLs ---------------------------------------------------------------


@pytest.mark.parametrize("url", [PROFILE_URL, CONSENT_URL])
def test_a_token_in_the_query_string_is_refused_naming_the_field(visitor, url):
    response = Visitor().client.get(url, {"visitor_id": visitor.token})
    assert response.status_code == 400
    assert "header" in response.json()["visitor_id"][0]


def test_a_token_in_the_query_string_is_refused_on_writes_too(visitor):
    response = Visitor().client.post(
        f"{EVENTS_URL}?visitor_id={visitor.token}",
        json.dumps({"events": [{"type": "click"}]}),
        content_type="application/json",
    )
    assert response.status_code == 400 and "visitor_id" in response.json()


# -- cross-site requests ------------------------------------------------------------------------


def test_consent_cannot_be_recorded_from_another_site(visitor):
    body = json.dumps({"purposes": {"analytics": True, "personalization": True, "marketing": True}})
    for content_type in ("text/plain", "application/json"):
        response = visitor.client.post(
            CONSENT_URL, body, content_type=content_type, HTTP_ORIGIN="https://evil.example"
        )
        assert response.status_code == 403, content_type
        assert "origin" in response.json()
    # A page without Origin (an old browser) is judged by its Referer.
    by_referer = visitor.client.post(
        CONSENT_URL,
        body,
        content_type="application/json",
        HTTP_REFERER="https://evil.example/page",
    )
    assert by_referer.status_code == 403
    state = visitor.client.get(CONSENT_URL, HTTP_X_VISITOR_ID=visitor.token).json()
    assert state["purposes"]["marketing"]["granted"] is False


@pytest.mark.parametrize(
    "request_",
    [
        ("post", EVENTS_URL, {"events": [{"type": "click"}]}),
        ("post", "/api/personalization/v1/decide", {"placements": ["x"]}),
        ("delete", "/api/personalization/v1/visitors/{id}", None),
    ],
)
def test_browser_state_changes_from_another_site_are_refused(visitor, request_):
    method, url, body = request_
    response = getattr(visitor.client, method)(
        url.format(id=visitor.id),
        json.dumps(body) if body is not None else None,
        content_type="application/json",
        HTTP_ORIGIN="https://evil.example",
        HTTP_X_VISITOR_ID=visitor.token,
    )
    assert response.status_code == 403


def test_same_site_and_allowed_origins_pass(visitor, settings):
    body = json.dumps({"events": [{"type": "click"}]})
    own = visitor.client.post(
        EVENTS_URL, body, content_type="application/json", HTTP_ORIGIN="http://testserver"
    )
    assert own.status_code == 202
    settings.PERSONALIZATION_ALLOWED_ORIGINS = ["https://shop.example"]
    listed = visitor.client.post(
        EVENTS_URL, body, content_type="application/json", HTTP_ORIGIN="https://shop.example"
    )
    assert listed.status_code == 202


def test_a_same_site_text_plain_body_is_415(visitor):
    response = visitor.client.post(
        CONSENT_URL,
        json.dumps({"purposes": {"marketing": True}}),
        content_type="text/plain",
        HTTP_ORIGIN="http://testserver",
    )
    assert response.status_code == 415


def test_server_clients_with_the_api_key_are_not_origin_checked(visitor, api_key):
    response = Visitor().client.post(
        CONSENT_URL,
        {"visitor_id": str(visitor.id), "purposes": {"marketing": True}},
        format="json",
        HTTP_AUTHORIZATION=api_key,
        HTTP_ORIGIN="https://crm.example",
    )
    assert response.status_code == 200
