"""Fixtures for variants and rendering: three segments, three kinds of visitor, a page whose body
holds a personalized block, and a personalized snippet."""

from __future__ import annotations

import datetime
import uuid

import pytest
from wagtail.models import Page, Site

from cms_site.demo.models import ArticleIndexPage, ArticlePage, HomePage
from personalization.profiles.traits import set_traits
from personalization.segments.models import Segment
from personalization.segments.services import save_segment
from personalization.variants.models import PersonalizedContent

from ..conftest import IPHONE, Visitor

VIP_TEXT = "VIP-ONLY-OFFER"
MOBILE_TEXT = "MOBILE-ONLY-TIP"
FALLBACK_TEXT = "FOR-EVERYONE-ELSE"
VIP_VARIANT = str(uuid.UUID(int=1))
MOBILE_VARIANT = str(uuid.UUID(int=2))


def make_segment(slug: str, rules: dict, **extra) -> Segment:
    return save_segment(
        Segment(name=slug.title(), slug=slug, rules=rules, status="enabled", **extra)
    )


def variant(variant_id: str, segments: list[str], text: str, **extra) -> dict:
    value = {
        "name": text.title(),
        "segments": segments,
        "match": "any",
        "start": None,
        "end": None,
        "content": [{"type": "heading", "value": text}],
    }
    return {"type": "item", "id": variant_id, "value": {**value, **extra}}


def personalized_block(*variants: dict, fallback: str = FALLBACK_TEXT) -> dict:
    return {
        "type": "personalized",
        "value": {
            "variants": list(variants),
            "fallback": [{"type": "heading", "value": fallback}],
        },
    }


def standard_block() -> dict:
    return personalized_block(
        variant(VIP_VARIANT, ["vip"], VIP_TEXT), variant(MOBILE_VARIANT, ["mobile"], MOBILE_TEXT)
    )


@pytest.fixture
def segments(db) -> dict[str, Segment]:
    return {
        "vip": make_segment(
            "vip",
            {"type": "trait", "params": {"name": "tier", "op": "equals", "value": "vip"}},
            priority=10,
        ),
        "mobile": make_segment("mobile", {"type": "device", "params": {"in": ["mobile"]}}),
    }


@pytest.fixture
def vip(segments) -> Visitor:
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    set_traits(v.id, {"tier": "vip"})
    return v


@pytest.fixture
def regular(segments) -> Visitor:
    """Consented, desktop, not VIP: in no segment."""
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    return v


@pytest.fixture
def phone(segments) -> Visitor:
    """No consent, an iPhone: in the request-only segment ``mobile``."""
    return Visitor(user_agent=IPHONE)


@pytest.fixture
def home(db) -> HomePage:
    root = Page.get_first_root_node()
    home = root.add_child(instance=HomePage(title="Home", slug="home-under-test"))
    Site.objects.update_or_create(
        is_default_site=True, defaults={"hostname": "localhost", "root_page": home, "port": 80}
    )
    return home


def add_article(home: HomePage, body: list[dict], slug: str = "offers") -> ArticlePage:
    index = ArticleIndexPage.objects.child_of(home).first() or home.add_child(
        instance=ArticleIndexPage(title="Articles", slug="articles")
    )
    page = index.add_child(
        instance=ArticlePage(
            title=f"Article {slug}", slug=slug, date=datetime.date(2026, 11, 1), body=body
        )
    )
    page.save_revision().publish()
    return page


@pytest.fixture
def article(home, segments) -> ArticlePage:
    return add_article(home, [{"type": "paragraph", "value": "<p>Intro</p>"}, standard_block()])


@pytest.fixture
def banner(segments) -> PersonalizedContent:
    return PersonalizedContent.objects.create(
        name="Banner",
        slug="banner",
        variants=[
            {
                "type": "variant",
                "value": variant(VIP_VARIANT, ["vip"], VIP_TEXT)["value"],
                "id": VIP_VARIANT,
            },
            {
                "type": "variant",
                "value": variant(MOBILE_VARIANT, ["mobile"], MOBILE_TEXT)["value"],
                "id": MOBILE_VARIANT,
            },
        ],
        fallback=[{"type": "heading", "value": FALLBACK_TEXT}],
    )
