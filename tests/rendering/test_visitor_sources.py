"""Which visitor a request is about: one order on pages and in the API (``resolve_visitor_id``):
body ``visitor_id``, then the ``X-Visitor-Id`` header, then the login, then the cookie. One test
per source, each against the sources below it."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from personalization.profiles.traits import set_traits

from ..conftest import Visitor
from .conftest import FALLBACK_TEXT, VIP_TEXT, VIP_VARIANT
from .test_pages_and_api import only

pytestmark = pytest.mark.django_db

DECIDE_URL = "/api/personalization/v1/decide"


def page(client, article, **headers) -> str:
    return client.get(f"/api/v2/pages/{article.pk}/?fields=body", **headers).content.decode()


def decided_variant(client, body: dict | None = None, **headers):
    response = client.post(
        DECIDE_URL,
        json.dumps({"placements": ["banner"], **(body or {})}),
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 200, response.content
    return response.json()["placements"]["banner"]["variant"]


def test_the_cookie_alone_names_the_visitor(article, banner, vip, regular):
    only(page(vip.client, article), VIP_TEXT)
    only(page(regular.client, article), FALLBACK_TEXT)
    assert decided_variant(vip.client) == VIP_VARIANT
    assert decided_variant(regular.client) is None


def test_the_login_beats_the_cookie(article, banner, regular):
    user = get_user_model().objects.create_user("vera", password="pw-vera-123")
    member = Visitor()
    member.consent(analytics=True, personalization=True)
    member.send({"type": "page_view", "id": "m1"})  # a profile, for the login to claim
    response = member.client.post(
        "/accounts/login/", {"username": "vera", "password": "pw-vera-123"}
    )
    assert response.status_code == 302
    set_traits(member.id, {"tier": "vip"})
    member.client.cookies["pz_vid"] = regular.token  # someone else's cookie in the same browser
    assert member.id != regular.id and user.pk
    only(page(member.client, article), VIP_TEXT)
    assert decided_variant(member.client) == VIP_VARIANT


def test_the_header_beats_the_login_and_the_cookie(article, banner, vip, regular):
    # A browser with the regular visitor's cookie, naming the VIP visitor in the header: pages
    # used to read the cookie first and the decide API the header first.
    only(page(regular.client, article, HTTP_X_VISITOR_ID=vip.token), VIP_TEXT)
    assert decided_variant(regular.client, HTTP_X_VISITOR_ID=vip.token) == VIP_VARIANT
    only(page(vip.client, article, HTTP_X_VISITOR_ID=regular.token), FALLBACK_TEXT)


def test_the_body_beats_the_header(banner, vip, regular):
    body = {"visitor_id": vip.token}
    assert decided_variant(regular.client, body, HTTP_X_VISITOR_ID=regular.token) == VIP_VARIANT


def test_a_forged_explicit_id_is_a_400_in_the_api_and_ignored_on_pages(article, banner, vip):
    forged = vip.token.split(":")[0] + ":forged"
    response = vip.client.post(
        DECIDE_URL,
        json.dumps({"placements": ["banner"]}),
        content_type="application/json",
        HTTP_X_VISITOR_ID=forged,
    )
    assert response.status_code == 400 and "X-Visitor-Id" in response.json()
    only(page(vip.client, article, HTTP_X_VISITOR_ID=forged), VIP_TEXT)  # falls back to the cookie
