"""The demo site: seeded content renders, and personalization shows on the home page."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from cms_site.demo.models import ArticlePage, ProductPage
from personalization.events.models import Event
from personalization.profiles.models import VisitorProfile

from .conftest import IPHONE, Visitor

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_pages_and_visitors_and_is_idempotent(capsys):
    call_command("seed_demo", "--visitors", "30", "--seed", "3")
    assert ArticlePage.objects.live().count() >= 20
    assert ProductPage.objects.live().count() >= 10
    profiles, events = VisitorProfile.objects.count(), Event.objects.count()
    assert profiles >= 20 and events > 100
    assert not Event.objects.filter(folded=False).exists()
    call_command("seed_demo", "--visitors", "30", "--seed", "3")
    from personalization.segments.models import Segment

    assert Segment.objects.filter(status="enabled").count() >= 5
    assert (VisitorProfile.objects.count(), Event.objects.count()) == (profiles, events)
    assert Client().get("/").status_code == 200


def test_home_page_shows_the_visitors_profile_once_they_consent():
    call_command("seed_demo", "--no-visitors")
    article = ArticlePage.objects.live().first()
    stranger = Client()
    assert "Your profile" not in stranger.get("/").content.decode()
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    v.client.get(article.url)
    v.client.get(article.url)
    home = v.client.get("/", HTTP_USER_AGENT=IPHONE).content.decode()
    assert "Your profile" in home
    assert "mobile-now" in home  # a seeded segment, decided for this request
    for tag in article.personalization_properties()["tags"][:1]:
        assert tag in home
