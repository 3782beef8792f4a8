"""Page views behind a page cache: Django's cache middleware in the README's order serves copies
the server never sees, so the page's tracker reports every load and the server counts each view
once (docs/caching.md, "Page views behind the cache")."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from personalization.events.models import Event
from personalization.profiles.models import ProfileCounter, VisitorProfile

from ..conftest import Visitor
from .test_caching import use_page_cache

pytestmark = pytest.mark.django_db

PAGE_VIEW_SCRIPT = re.compile(
    r'<script id="pz-page-view" type="application/json">(.*?)</script>', re.S
)


@pytest.fixture
def page_cache(settings):
    """The page cache of docs/caching.md, with server-side page views left on."""
    use_page_cache(settings)


def rendered(html: str) -> dict | None:
    """What tracker.js reads from the page: ``{% tracker_page_view %}``'s JSON, if any."""
    found = PAGE_VIEW_SCRIPT.search(html)
    return json.loads(found.group(1)) if found else None


def load(visitor: Visitor, url: str, *, beacon_twice: bool = False) -> dict | None:
    """A browser loading the page: the HTML, then tracker.js's page_view (a random id per load,
    as ``crypto.randomUUID()``), sent a second time when a beacon and a retried fetch both
    arrive."""
    response = visitor.client.get(url)
    assert response.status_code == 200
    data = rendered(response.content.decode())
    if data is not None:
        event = {
            "type": "page_view",
            "id": str(uuid.uuid4()),
            "properties": {**data["properties"], "render_id": data["render_id"]},
        }
        for _ in range(2 if beacon_twice else 1):
            sent = visitor.send(event)
            assert sent.status_code in (200, 202), sent.content
    return data


def page_views(visitor: Visitor) -> int:
    return Event.objects.filter(visitor_id=visitor.id, type="page_view").count()


def test_every_load_of_a_cached_article_is_one_page_view(page_cache, article, regular):
    renders = [load(regular, article.url) for _ in range(4)]
    render_ids = {r["render_id"] for r in renders}
    # The cache served copies: fewer renders than loads (the first, keyless response is
    # private; the next is stored; the last two are that copy).
    assert len(render_ids) == 2
    server_seen = Event.objects.filter(visitor_id=regular.id, key__startswith="c:pv:").count()
    assert server_seen == 0  # each server record was taken over by the browser's report
    assert page_views(regular) == 4
    profile = VisitorProfile.objects.get(visitor_id=regular.id)
    assert profile.event_count == 4
    by_page = ProfileCounter.objects.get(
        profile=profile, granularity="t", event_type="page_view", dimension=f"page:{article.pk}"
    )
    assert by_page.count == 4  # the cached loads carry the page's properties too


def test_a_report_sent_twice_counts_once(page_cache, article, regular):
    load(regular, article.url, beacon_twice=True)  # rendered, recorded by the server
    load(regular, article.url, beacon_twice=True)  # rendered and stored
    load(regular, article.url, beacon_twice=True)  # the stored copy
    assert page_views(regular) == 3
    assert VisitorProfile.objects.get(visitor_id=regular.id).event_count == 3


def test_another_visitors_cached_copy_counts_for_whoever_loads_it(page_cache, article, regular):
    load(regular, article.url)
    copy = load(regular, article.url)
    second = Visitor()
    second.consent(analytics=True, personalization=True)
    second.client.cookies["pz_seg"] = regular.client.cookies["pz_seg"].value
    assert load(second, article.url)["render_id"] == copy["render_id"]  # the first's copy
    assert page_views(second) == 1
    assert page_views(regular) == 2


def test_visitors_without_consent_are_not_counted_from_the_cache(page_cache, article, phone):
    for _ in range(3):
        assert load(phone, article.url) is not None
    assert not Event.objects.exists()


def test_only_with_a_page_cache_unless_switched_on(settings, article, regular):
    response = regular.client.get(article.url)
    assert rendered(response.content.decode()) is None  # no page cache: the server sees all
    settings.PERSONALIZATION_CACHED_PAGE_VIEWS = True  # NGINX or Varnish in front
    data = load(regular, article.url)
    assert data is not None and data["properties"]["page_id"] == article.pk
    assert page_views(regular) == 2  # one each: the server's record was taken over


def test_switched_off_behind_the_cache(page_cache, settings, article, regular):
    settings.PERSONALIZATION_CACHED_PAGE_VIEWS = False
    assert rendered(regular.client.get(article.url).content.decode()) is None
