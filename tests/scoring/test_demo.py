"""The demo: seeding trains the models once, and the home page's profile panel shows the
visitor's persona and scores."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from cms_site.demo.models import ArticlePage
from personalization.scoring.models import ModelVersion, Persona

from ..conftest import Visitor

pytestmark = pytest.mark.django_db


def test_seeding_trains_personas_and_the_home_page_shows_the_visitors_persona():
    out = io.StringIO()
    call_command("seed_demo", "--visitors", "150", "--seed", "4", stdout=out)
    assert "model personas v1: trained and active" in out.getvalue()
    assert ModelVersion.objects.get(name="personas", is_active=True)
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    for article in ArticlePage.objects.live()[:3]:
        v.client.get(article.url)
    assert v.profile()["persona"].startswith("persona-")  # assigned as the views were folded
    home = v.client.get("/").content.decode()
    key = v.profile()["persona"]  # the home page view was folded before the page rendered
    name = Persona.objects.get(key=key).name
    assert f'<dd class="persona">{name}</dd>' in home
