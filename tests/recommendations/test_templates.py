"""Template tags, the StreamField block and the demo pages."""

from __future__ import annotations

import re

import pytest
from django.test import Client, RequestFactory

from personalization.blocks import RecommendationsBlock

from .conftest import TOPICS, token, train_now, written_impressions

pytestmark = pytest.mark.django_db


def links(html: str, heading: str) -> list[str]:
    section = html.split(f"<h2>{heading}</h2>", 1)[1].split("</section>", 1)[0]
    return re.findall(r'<a href="[^"]+"[^>]*>([^<]+)</a>', section)


def test_home_page_shows_recommended_for_you_with_click_tracking(history, site):
    train_now("--algorithm", "item_knn")
    vid = next(v for v, topic in history.items() if topic == "garden")
    response = Client().get(site["home"].url, HTTP_X_VISITOR_ID=token(vid))
    html = response.content.decode()
    titles = links(html, "Recommended for you")
    assert titles and titles[0] in TOPICS["garden"]
    assert "private" in response.headers["Cache-Control"]  # one visitor's list
    impression = written_impressions().get(visitor_id=vid)
    assert impression.placement == "home"
    assert f'"decision_id": "{impression.decision_id}"' in html
    assert "Because you viewed" in html


def test_article_page_shows_more_like_this_and_stays_cacheable(history, site):
    train_now("--algorithm", "item_knn")
    page = site["pages"][("python", 1)]
    html = Client().get(page.url).content.decode()
    similar = links(html, "More like this")
    assert similar and set(similar) <= set(TOPICS["python"]) - {page.title}
    assert "data-pz-recommendations" in html  # "Recommended for you" is fetched after load
    assert not written_impressions().exists()


def test_recommendations_block_renders_with_editor_filters(history, site):
    train_now("--algorithm", "item_knn")
    block = RecommendationsBlock()
    page = site["pages"][("garden", 0)]
    request = RequestFactory().get(page.url)
    value = block.to_python(
        {"heading": "Read next", "mode": "similar", "limit": 2, "page_types": "demo.articlepage"}
    )
    html = block.render(value, context={"request": request, "page": page})
    titles = links(html, "Read next")
    assert len(titles) == 2 and set(titles) <= set(TOPICS["garden"]) - {page.title}
    value = block.to_python({"mode": "similar", "limit": 2, "page_types": "demo.productpage"})
    assert block.render(value, context={"request": request, "page": page}).strip() == ""


def test_no_model_renders_nothing(site):
    html = Client().get(site["home"].url).content.decode()
    assert "Recommended for you" not in html
