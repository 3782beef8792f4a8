"""Server-side page-view capture on Wagtail pages: no JavaScript, no session, consent first."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from wagtail.models import Page, Site

from cms_site.demo.models import ArticleIndexPage, ArticlePage, HomePage
from personalization.events.models import Event
from personalization.profiles.snapshot import get_snapshot

from .conftest import DESKTOP, Visitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def article(db) -> ArticlePage:
    root = Page.get_first_root_node()
    home = root.add_child(instance=HomePage(title="Home", slug="home-under-test"))
    Site.objects.update_or_create(
        is_default_site=True, defaults={"hostname": "localhost", "root_page": home, "port": 80}
    )
    index = home.add_child(instance=ArticleIndexPage(title="Articles", slug="articles"))
    page = index.add_child(
        instance=ArticlePage(
            title="Zero trust in practice",
            slug="zero-trust",
            date=datetime.date(2026, 11, 1),
            category="guides",
        )
    )
    page.tags.add("Security", "enterprise")
    page.save_revision().publish()
    return page


def test_consenting_visitor_page_view_is_captured_without_javascript(visitor, article):
    response = visitor.client.get(article.url)
    assert response.status_code == 200
    event = Event.objects.get(visitor_id=visitor.id)
    assert event.type == "page_view"
    assert event.properties["page_id"] == article.pk
    assert event.properties["page_type"] == "demo.articlepage"
    assert sorted(event.properties["tags"]) == ["enterprise", "security"]
    snap = get_snapshot(visitor.id)
    assert snap.count("page_view", "tag:security") == 1
    assert snap.count("page_view", "category:guides") == 1
    assert snap.count("page_view", f"page:{article.pk}") == 1


def test_anonymous_visitor_without_consent_gets_the_page_and_no_cookie_or_row(article):
    client = Client(HTTP_USER_AGENT=DESKTOP)
    response = client.get(article.url)
    assert response.status_code == 200
    assert "Zero trust in practice" in response.content.decode()
    assert not response.cookies.get("sessionid")
    assert not response.cookies.get("pz_vid")
    assert not Event.objects.exists()


def test_opt_out_sites_mint_an_id_on_first_view_and_still_write_no_session(article, settings):
    settings.PERSONALIZATION_CONSENT_DEFAULTS = {"analytics": True, "personalization": True}
    client = Client(HTTP_USER_AGENT=DESKTOP)
    first = client.get(article.url)
    assert first.cookies["pz_vid"].value
    assert not first.cookies.get("sessionid")
    client.get(article.url)
    assert Event.objects.values("visitor_id").distinct().count() == 1
    assert Event.objects.count() == 2


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_USER_AGENT": "Googlebot/2.1 (+http://www.google.com/bot.html)"},
        {"HTTP_USER_AGENT": DESKTOP, "HTTP_DNT": "1"},
        {"HTTP_USER_AGENT": DESKTOP, "HTTP_SEC_GPC": "1"},
    ],
)
def test_bots_and_privacy_signals_are_not_tracked(article, settings, headers):
    settings.PERSONALIZATION_CONSENT_DEFAULTS = {"analytics": True, "personalization": True}
    response = Client(**headers).get(article.url)
    assert response.status_code == 200
    assert not response.cookies.get("pz_vid")
    assert not Event.objects.exists()


def test_capture_can_be_switched_off(visitor, article, settings):
    settings.PERSONALIZATION_TRACK_PAGE_VIEWS = False
    visitor.client.get(article.url)
    assert not Event.objects.exists()


def test_tracker_scripts_events_are_captured(visitor, article):
    """The script the site ships posts to the endpoint the API mounts, and what it sends there
    (a page view with the page's properties, carried by the visitor's cookie) is stored and
    counted for that visitor."""
    import json
    import re
    from pathlib import Path

    from django.contrib.staticfiles import finders
    from django.urls import reverse

    script = Path(finders.find("personalization/tracker.js")).read_text()
    endpoint = re.search(r'config\.endpoint \|\| "([^"]+)"', script).group(1)
    assert endpoint == reverse("personalization_api:events")
    assert "sendBeacon" in script  # the last batch survives the page closing

    body = {
        "events": [
            {
                "type": "page_view",
                "id": "tracker-1",
                "properties": {"page_id": article.pk, "tags": ["security"], "category": "guides"},
            }
        ],
        "context": {"url": f"http://localhost{article.url}", "referrer": ""},
    }
    response = visitor.client.post(endpoint, json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.content
    event = Event.objects.get(visitor_id=visitor.id)
    assert event.type == "page_view" and "tracker-1" in event.key
    assert event.properties["page_id"] == article.pk
    snap = get_snapshot(visitor.id)
    assert snap.count("page_view", "tag:security") == 1
    assert snap.count("page_view", f"page:{article.pk}") == 1


def test_visit_view_keeps_one_visitor_across_pages(article):
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    for _ in range(3):
        v.client.get(article.url)
    assert get_snapshot(v.id).count("page_view") == 3
    assert get_snapshot(v.id).visit_count == 1


def test_server_code_can_track_events_through_the_same_gates(visitor, rf):
    from django.contrib.auth.models import AnonymousUser

    from personalization.capture import track_event
    from personalization.events.validation import EventError

    request = rf.get("/checkout/done", HTTP_USER_AGENT=DESKTOP)
    request.user = AnonymousUser()
    request.COOKIES["pz_vid"] = visitor.token
    result = track_event(request, "purchase", {"value": 99.0, "currency": "EUR"})
    assert result.accepted == 1
    assert get_snapshot(visitor.id).monetary_total == 99.0
    with pytest.raises(EventError) as err:
        track_event(request, "purchase", {"value": "a lot"})
    assert err.value.field == "properties.value"
    stranger = rf.get("/checkout/done", HTTP_USER_AGENT=DESKTOP)
    stranger.user = AnonymousUser()
    assert track_event(stranger, "signup").ignored_reason == "no_consent"
    assert Event.objects.count() == 1
