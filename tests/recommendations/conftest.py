"""A small site (two topics of articles) and synthetic visitors with a fixed seed."""

from __future__ import annotations

import datetime
import random
import uuid
from datetime import UTC, timedelta

import pytest
from django.core.management import call_command
from wagtail.models import Page, Site

from cms_site.demo.models import ArticleIndexPage, ArticlePage, HomePage
from personalization.consent.services import record_consent
from personalization.events.models import Event
from personalization.profiles.identity import sign_visitor_id
from personalization.recommendations.catalogue import forget_catalogue

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TOPICS = {
    "python": ["Python typing", "Django ORM tips", "Async Python", "Python packaging"],
    "garden": ["Pruning roses", "Tomato growing", "Garden soil", "Winter garden"],
}


@pytest.fixture(autouse=True)
def _generous_time_budget(settings):
    """On-the-fly scoring must not depend on how busy the test machine is (one test sets 0)."""
    settings.PERSONALIZATION_RECOMMENDATIONS_TIME_BUDGET_MS = 60_000


@pytest.fixture
def site(db):
    forget_catalogue()
    root = Page.get_first_root_node()
    home = root.add_child(instance=HomePage(title="Home", slug="home-recs"))
    Site.objects.update_or_create(
        is_default_site=True, defaults={"hostname": "localhost", "root_page": home, "port": 80}
    )
    index = home.add_child(instance=ArticleIndexPage(title="Articles", slug="articles"))
    pages = {}
    for topic, titles in TOPICS.items():
        for n, title in enumerate(titles):
            page = index.add_child(
                instance=ArticlePage(
                    title=title,
                    slug=title.lower().replace(" ", "-"),
                    date=datetime.date(2026, 1, 1),
                    intro=f"All about {topic}: {title.lower()}",
                    category="guides",
                )
            )
            page.tags.add(topic)
            page.save_revision().publish()
            # first published long ago: no freshness boost unless a test asks for it
            Page.objects.filter(pk=page.pk).update(first_published_at=NOW - timedelta(days=300))
            pages[(topic, n)] = page
    yield {"home": home, "pages": pages}
    forget_catalogue()


def view(visitor_id, page, at, key=None):
    Event.objects.create(
        visitor_id=visitor_id,
        key=key or uuid.uuid4().hex,
        type="page_view",
        properties={"page_id": page.pk},
        timestamp=at,
        received_at=at,
    )


@pytest.fixture
def history(site):
    """30 visitors who each read 3 of the 4 articles of one topic (seeded), with consent."""
    rng = random.Random(11)
    visitors = {}
    for n in range(30):
        topic = "python" if n % 2 == 0 else "garden"
        vid = uuid.UUID(int=1000 + n)
        record_consent(vid, {"analytics": True, "personalization": True})
        for k, i in enumerate(rng.sample(range(4), 3)):
            view(vid, site["pages"][(topic, i)], NOW - timedelta(days=5, hours=k))
        visitors[vid] = topic
    return visitors


def train_now(*extra: str) -> None:
    call_command("train_recommenders", "--now", NOW.isoformat(), *extra)


def token(visitor_id) -> str:
    return sign_visitor_id(visitor_id)


def written_impressions():
    """Impressions are buffered in Redis when Redis is the cache: run the beat task first."""
    from personalization.recommendations.models import RecommendationImpression
    from personalization.tasks import flush_recommendation_impressions

    flush_recommendation_impressions()
    return RecommendationImpression.objects.all()


def buffered() -> bool:
    from personalization.visitor_cache import redis_list

    return redis_list("probe") is not None
