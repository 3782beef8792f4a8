"""Shared fixtures. The suite runs on SQLite + local memory by default; CI sets DATABASE_URL and
REDIS_URL so the same tests run against PostgreSQL and Redis."""

from __future__ import annotations

import itertools
import json
import os
import uuid

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from cms_site.celery import app as celery_app
from personalization.profiles.identity import sign_visitor_id

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
# Processes the tests start (a Celery worker, a server) share the suite's key: without DEBUG the
# site refuses to start on no key or the demo's published one.
os.environ.setdefault("SECRET_KEY", settings.SECRET_KEY)

EVENTS_URL = "/api/personalization/v1/events"
CONSENT_URL = "/api/personalization/v1/consent"
PROFILE_URL = "/api/personalization/v1/profile"


@pytest.fixture(autouse=True)
def _demo_api_key_file(settings, tmp_path_factory):
    """seed_demo writes the demo's API key to a file: a temporary one, not the checkout's."""
    settings.DEMO_API_KEY_FILE = tmp_path_factory.getbasetemp() / ".demo-api-key"


@pytest.fixture(autouse=True)
def _clean_cache_and_eager():
    """Each test starts with an empty cache and eager Celery (the worker test opts out)."""
    cache.clear()
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager
    cache.clear()


_SIGNED_IDS = itertools.count(1)


class Visitor:
    """A browser-like visitor: an API client that keeps cookies, with helpers for our API."""

    def __init__(self, user_agent: str = DESKTOP):
        self.client = APIClient(HTTP_USER_AGENT=user_agent)
        self.token: str | None = None

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self.token.split(":")[0])

    def consent(self, **purposes: bool):
        response = self.client.post(CONSENT_URL, {"purposes": purposes}, format="json")
        assert response.status_code == 200, response.content
        self.token = response.json()["visitor_token"]
        return response

    def send(self, *events: dict, **extra):
        body = {"events": list(events), **extra}
        headers = {"HTTP_X_VISITOR_ID": self.token} if self.token else {}
        return self.client.post(
            EVENTS_URL, json.dumps(body), content_type="application/json", **headers
        )

    def send_signed(self, *events: dict, **extra):
        """Send events as a browser relaying them with a server's signature (``sign_event``):
        the way a trusted type (purchase, signup) may come from the browser."""
        from personalization.events.validation import sign_event

        signed = [
            sign_event(self.id, e if "id" in e else {"id": f"signed-{next(_SIGNED_IDS)}", **e})
            if isinstance(e, dict)
            else e
            for e in events
        ]
        return self.send(*signed, **extra)

    def profile(self) -> dict:
        response = self.client.get(PROFILE_URL, HTTP_X_VISITOR_ID=self.token)
        assert response.status_code == 200, response.content
        return response.json()


@pytest.fixture
def visitor(db) -> Visitor:
    """A visitor who accepted analytics and personalization."""
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    return v


@pytest.fixture
def new_visitor(db):
    return Visitor


@pytest.fixture
def api_key(settings):
    settings.PERSONALIZATION_API_KEYS = {"crm": "s3cret-key"}
    return "Api-Key s3cret-key"


def token_for(visitor_id: uuid.UUID) -> str:
    return sign_visitor_id(visitor_id)


@pytest.fixture
def wagtail_root(transactional_db):
    """The Wagtail tree's root page. A transactional test (live server, ``transaction=True``)
    flushes every table when it ends, the rows the migrations made included, so a later one
    finds no root: it is made again, with the default locale, as the migrations make it."""
    from wagtail.models import Locale, Page

    root = Page.get_first_root_node()
    if root is None:
        Locale.objects.get_or_create(language_code=settings.LANGUAGE_CODE.split("-")[0])
        root = Page.add_root(instance=Page(title="Root", slug="root"))
    return root
