"""Multi-site installs: a list names only pages of the site asked for (API) or being served
(template tags and the block), and an unknown site is a 400 naming ``site``."""

from __future__ import annotations

import datetime
import re
from datetime import timedelta

import pytest
from django.test import Client
from rest_framework.test import APIClient
from wagtail.models import Page, Site

from cms_site.demo.models import ArticleIndexPage, ArticlePage, HomePage

from .conftest import NOW, TOPICS, train_now, view

URL = "/api/personalization/v1/recommendations"
pytestmark = pytest.mark.django_db
SHOP_TITLES = ["Shop python mugs", "Shop garden tools"]


@pytest.fixture
def shop(site, history):
    """A second site on its own host whose two articles every history reader also viewed."""
    root = Page.get_first_root_node()
    home = root.add_child(instance=HomePage(title="Shop", slug="shop-home"))
    shop_site = Site.objects.create(hostname="shop.example", port=80, root_page=home)
    index = home.add_child(instance=ArticleIndexPage(title="Shop articles", slug="shop-articles"))
    pages = []
    for title in SHOP_TITLES:
        page = index.add_child(
            instance=ArticlePage(
                title=title,
                slug=title.lower().replace(" ", "-"),
                date=datetime.date(2026, 1, 1),
                intro=title,
            )
        )
        page.save_revision().publish()
        pages.append(page)
    for n, vid in enumerate(history):
        view(vid, pages[n % 2], NOW - timedelta(days=4))
    train_now("--algorithm", "item_knn")
    return {"site": shop_site, "home": home, "pages": pages}


def titles(body) -> set[str]:
    return {item["title"] for item in body["items"]}


def test_the_site_parameter_keeps_a_list_to_that_site(shop, site):
    main_site = Site.objects.get(is_default_site=True)
    everything = APIClient().get(URL, {"limit": 20}).json()
    assert titles(everything) & set(SHOP_TITLES), "the shop's pages are popular everywhere"

    shop_only = APIClient().get(URL, {"limit": 20, "site": shop["site"].pk}).json()
    assert titles(shop_only) == set(SHOP_TITLES)

    main_only = APIClient().get(URL, {"limit": 20, "site": main_site.pk}).json()
    assert titles(main_only) and titles(main_only) <= set(TOPICS["python"] + TOPICS["garden"])


@pytest.mark.parametrize("value", ["999999", "shop", "0", "-1"])
def test_an_unknown_or_malformed_site_is_a_400_naming_it(shop, value):
    response = APIClient().get(URL, {"site": value})
    assert response.status_code == 400
    assert "site" in response.json()


def test_a_site_created_after_the_catalogue_was_loaded_is_known(shop):
    assert APIClient().get(URL, {"site": shop["site"].pk}).status_code == 200  # warms
    late = Site.objects.create(hostname="late.example", port=80, root_page=shop["home"])
    response = APIClient().get(URL, {"site": late.pk})
    assert response.status_code == 200


def test_more_like_this_on_a_page_never_links_to_another_site(shop, site):
    """Python readers also read the shop's python mug page, so without the site filter it is
    among the most similar items of every python article."""
    article = site["pages"][("python", 0)]
    html = Client().get(article.url, HTTP_HOST="localhost").content.decode()
    section = html.split("<h2>More like this</h2>", 1)[1].split("</section>", 1)[0]
    linked = set(re.findall(r'<a href="[^"]+"[^>]*>([^<]+)</a>', section))
    assert linked and linked <= set(TOPICS["python"]) - {article.title}
