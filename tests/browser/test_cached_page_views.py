"""Page views reported by the browser, as behind NGINX or Varnish
(``PERSONALIZATION_CACHED_PAGE_VIEWS = True``), in a real browser: the demo's base template
carries ``{% tracker_page_view %}``, tracker.js reports every load, and a load the server
rendered and recorded is still one page view, not two. (The live server's middleware is fixed
when it starts, so the copies served by Django's cache are in
tests/rendering/test_cached_page_views.py.)"""

from __future__ import annotations

import datetime
import time

import pytest

from personalization.events.models import Event
from personalization.profiles.models import VisitorProfile

RENDER_ID = "() => JSON.parse(document.getElementById('pz-page-view').textContent).render_id"


@pytest.fixture
def reported_page_views(settings):
    settings.PERSONALIZATION_CACHED_PAGE_VIEWS = True


@pytest.fixture
def article(site_home):
    from cms_site.demo.models import ArticleIndexPage, ArticlePage

    index = site_home.add_child(instance=ArticleIndexPage(title="Articles", slug="articles"))
    page = index.add_child(
        instance=ArticlePage(title="Cached", slug="cached", date=datetime.date(2026, 11, 1))
    )
    page.save_revision().publish()
    return page


def _wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not condition():
        time.sleep(0.1)


def test_each_load_is_one_page_view_with_the_browser_reporting_too(
    reported_page_views, desktop_page, article
):
    page = desktop_page
    page.goto("/api/personalization/v1/consent")  # not a page: no page view of its own
    status = page.evaluate(
        """() => fetch("/api/personalization/v1/consent", {method: "POST",
             headers: {"Content-Type": "application/json"},
             body: JSON.stringify({purposes: {analytics: true, personalization: true}})})
           .then(r => r.status)"""
    )
    assert status == 200
    render_ids = []
    for load in range(1, 5):
        page.goto(article.url)
        page.wait_for_function("() => window.personalization && window.personalization.version")
        render_ids.append(page.evaluate(RENDER_ID))
        page.evaluate("() => window.personalization.flush()")
        _wait_for(lambda n=load: Event.objects.filter(type="page_view").count() >= n)
    page.wait_for_timeout(500)  # a late double count would show now
    assert len(set(render_ids)) == 4  # every load rendered, and recorded, by the server
    assert Event.objects.filter(type="page_view").count() == 4
    _wait_for(lambda: VisitorProfile.objects.filter(event_count=4).exists())
    assert VisitorProfile.objects.get().event_count == 4
    assert page.js_errors == []
