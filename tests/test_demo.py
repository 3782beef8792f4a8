"""The demo site: seeded content renders, and personalization shows at once: the welcome banner,
the pricing call to action and the personalized body blocks follow the visitor's segments, and
visitors without consent see the default content (or a request-only segment's variant)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils.html import escape, strip_tags
from wagtail.admin.admin_url_finder import AdminURLFinder

from cms_site.demo import seed_data
from cms_site.demo.models import ArticlePage, HomePage, ProductPage
from personalization.events.models import Event
from personalization.profiles.models import VisitorProfile
from personalization.variants.models import PersonalizedContent

from .conftest import IPHONE, Visitor

pytestmark = pytest.mark.django_db

SNIPPETS = {data["slug"]: data for data in seed_data.PERSONALIZED_CONTENT}
BANNER = SNIPPETS["welcome-banner"]
PRICING = SNIPPETS["pricing-cta"]
HOME_BLOCK = seed_data.PERSONALIZED_BLOCKS["home"]


def seed(*args: str) -> None:
    call_command("seed_demo", *args, stdout=StringIO())


@pytest.fixture
def seeded(db) -> HomePage:
    seed("--visitors", "5", "--seed", "11")
    return HomePage.objects.get()


def variant(data: dict, name: str) -> dict:
    return next(v for v in data["variants"] if v["name"] == name)


def heading(content: list) -> str:
    return next(value for block_type, value in content if block_type == "heading")


def texts(content: list) -> list[str]:
    """What a reader sees of a piece of content: headings, paragraphs, button labels."""
    out = []
    for block_type, value in content:
        if block_type == "call_to_action":
            out.append(value["text"])
        elif block_type == "paragraph":
            out.append(strip_tags(value))
        else:
            out.append(value)
    return out


def others(data: dict, shown: str | None) -> list[list]:
    """The content of every variant (and the fallback) except the one named ``shown``."""
    contents = [v["content"] for v in data["variants"] if v["name"] != shown]
    return contents + ([data["fallback"]] if shown is not None else [])


def shows(html: str, content: list) -> bool:
    return escape(heading(content)) in html


def security_reader() -> Visitor:
    """A consented desktop visitor who read three security articles: 'security-buyers'."""
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    response = v.send(
        *(
            {"type": "page_view", "id": f"sec-{i}", "properties": {"tags": ["security"]}}
            for i in range(3)
        )
    )
    assert response.status_code == 202 and response.json()["accepted"] == 3
    return v


# -- seeding ------------------------------------------------------------------------------------


def test_seed_demo_builds_pages_and_visitors_and_is_idempotent(capsys):
    call_command("seed_demo", "--visitors", "30", "--seed", "3")
    assert ArticlePage.objects.live().count() >= 20
    assert ProductPage.objects.live().count() >= 10
    profiles, events = VisitorProfile.objects.count(), Event.objects.count()
    assert profiles >= 20 and events > 100
    assert not Event.objects.filter(folded=False).exists()
    home = HomePage.objects.get()
    revisions = home.revisions.count()
    call_command("seed_demo", "--visitors", "30", "--seed", "3")
    from personalization.segments.models import Segment

    assert Segment.objects.filter(status="enabled").count() >= 5
    assert (VisitorProfile.objects.count(), Event.objects.count()) == (profiles, events)
    assert sorted(PersonalizedContent.objects.values_list("slug", flat=True)) == sorted(SNIPPETS)
    assert home.revisions.count() == revisions
    for slug in seed_data.PERSONALIZED_BLOCKS:
        page = HomePage.objects.get() if slug == "home" else ArticlePage.objects.get(slug=slug)
        assert [b.block_type for b in page.body].count("personalized") == 1, slug
    assert Client().get("/").status_code == 200


def test_running_the_demo_seed_again_adds_no_visitors_and_reports_what_is_there():
    """`make demo` twice (no --seed): the same visitors, none added, and a report that says so
    (it used to add another random batch and print "0 page blocks added" with blocks there)."""
    from personalization.consent.models import ConsentRecord

    first = StringIO()
    call_command("seed_demo", "--visitors", "20", stdout=first)
    counts = (VisitorProfile.objects.count(), ConsentRecord.objects.count(), Event.objects.count())
    assert counts[0] >= 10
    assert "visitors:         20 added, 0 already there" in first.getvalue()
    again = StringIO()
    call_command("seed_demo", "--visitors", "20", stdout=again)
    assert (
        VisitorProfile.objects.count(),
        ConsentRecord.objects.count(),
        Event.objects.count(),
    ) == counts
    report = again.getvalue()
    assert "visitors:         0 added, 20 already there" in report
    blocks = len(seed_data.PERSONALIZED_BLOCKS)
    assert f"{blocks} pages with a personalized block (0 added now)" in report
    assert f"{len(SNIPPETS)} snippets (0 created now)" in report


def test_pages_seeded_before_personalized_blocks_get_theirs_once():
    seed("--no-visitors")
    home = HomePage.objects.get()
    home.body = [b for b in home.body.raw_data if b["type"] != "personalized"]
    home.save_revision().publish()
    seed("--no-visitors")
    home = HomePage.objects.get()
    assert [b.block_type for b in home.body] == ["heading", "paragraph", "personalized"]
    revisions = home.revisions.count()
    seed("--no-visitors")
    assert HomePage.objects.get().revisions.count() == revisions


def test_seeded_personalized_content_is_what_an_editor_could_save_and_links_work(seeded):
    """Every stored value passes the blocks' own validation (segment choices, link
    validators, required fields), targets seeded segments, and every link opens a page."""
    seeded_segments = {slug for slug, *_ in seed_data.SEGMENTS}

    def variant_ids() -> dict[str, list[str]]:
        return {
            snippet.slug: [child.id for child in snippet.variants]
            for snippet in PersonalizedContent.objects.all()
        }

    # Variant ids are what impressions, clicks and experiments refer to: one per variant, all
    # distinct, and the same after seeding again (experiments keep their arms).
    ids = variant_ids()
    assert {slug: len(v) for slug, v in ids.items()} == {
        slug: len(data["variants"]) for slug, data in SNIPPETS.items()
    }
    flat = [i for v in ids.values() for i in v]
    assert all(flat) and len(set(flat)) == len(flat)
    seed("--no-visitors")
    assert variant_ids() == ids
    for snippet in PersonalizedContent.objects.all():
        snippet.variants.stream_block.clean(snippet.variants)
        snippet.fallback.stream_block.clean(snippet.fallback)
    pages = [seeded] + [
        ArticlePage.objects.get(slug=s) for s in seed_data.PERSONALIZED_BLOCKS if s != "home"
    ]
    for page in pages:
        page.body.stream_block.clean(page.body)
    definitions = list(SNIPPETS.values()) + list(seed_data.PERSONALIZED_BLOCKS.values())
    links = set()
    for data in definitions:
        for v in data["variants"]:
            assert v["segments"] and set(v["segments"]) <= seeded_segments
        for content in [v["content"] for v in data["variants"]] + [data["fallback"]]:
            links |= {val["link"] for kind, val in content if kind == "call_to_action"}
    client = Client()
    for link in sorted(links):
        if not link.startswith("mailto:"):
            assert client.get(link).status_code == 200, link
    admin = get_user_model().objects.get(username="admin")
    editor = Client()
    editor.force_login(admin)
    for obj in [*pages, *PersonalizedContent.objects.all()]:
        if isinstance(obj, PersonalizedContent):
            data = SNIPPETS[obj.slug]
        else:
            data = seed_data.PERSONALIZED_BLOCKS["home" if obj.pk == seeded.pk else obj.slug]
        response = editor.get(AdminURLFinder(admin).get_edit_url(obj))
        assert response.status_code == 200
        assert all(v["name"].encode() in response.content for v in data["variants"])


# -- what visitors see --------------------------------------------------------------------------


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
    # A seeded segment, decided for this request, shown by the name editors gave it.
    name = next(n for slug, n, *_ in seed_data.SEGMENTS if slug == "mobile-now")
    assert f'<span class="tag">{escape(name)}</span>' in home
    assert '<span class="tag">mobile-now</span>' not in home
    for tag in article.personalization_properties()["tags"][:1]:
        assert tag in home


def test_previews_show_no_consent_dialog(seeded):
    """Wagtail's preview panel is for editors: the dialog would cover it."""
    assert 'id="pz-consent"' in Client().get("/").content.decode()
    assert 'id="pz-consent"' not in seeded.make_preview_request().content.decode()


def test_desktop_visitor_without_consent_sees_the_default_content(seeded):
    html = Client().get("/").content.decode()
    assert 'class="pz-banner"' in html and shows(html, BANNER["fallback"])
    assert shows(html, HOME_BLOCK["fallback"])
    for content in others(BANNER, None) + others(HOME_BLOCK, None):
        assert not shows(html, content)


def test_phone_without_consent_sees_the_mobile_banner(seeded):
    """``mobile-now`` is decided from the request alone, so it needs no cookie or consent."""
    html = Client(HTTP_USER_AGENT=IPHONE).get("/").content.decode()
    mobile = variant(BANNER, "On a phone")["content"]
    assert shows(html, mobile)
    for content in others(BANNER, "On a phone"):
        assert not shows(html, content)
    assert shows(html, HOME_BLOCK["fallback"])  # the home block has no mobile variant


def test_visitor_who_qualifies_through_events_sees_their_variants(seeded):
    v = security_reader()
    html = v.client.get("/").content.decode()
    assert shows(html, variant(BANNER, "Security reviewers")["content"])
    assert shows(html, variant(HOME_BLOCK, "Security reviewers")["content"])
    for content in others(BANNER, "Security reviewers") + others(HOME_BLOCK, "Security reviewers"):
        assert not shows(html, content)
    index = v.client.get("/articles/").content.decode()
    assert "Preparing a security review?" in index and "New here?" not in index
    assert "New here?" in Client().get("/articles/").content.decode()
    article = v.client.get("/articles/soc2-type-ii-report-available/").content.decode()
    soc2 = seed_data.PERSONALIZED_BLOCKS["soc2-type-ii-report-available"]
    assert shows(article, variant(soc2, "Security reviewers")["content"])
    assert not shows(article, soc2["fallback"])


def test_product_pages_show_the_pricing_call_to_action_for_the_segment(seeded):
    product = ProductPage.objects.get(slug="team-plan")
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    v.send_signed(
        {"type": "purchase", "id": "order-1", "properties": {"value": 1490, "currency": "EUR"}}
    )
    html = v.client.get(product.url).content.decode()
    assert shows(html, variant(PRICING, "Customers")["content"])
    assert shows(html, variant(BANNER, "Customers")["content"])
    stranger = Client().get(product.url).content.decode()
    assert shows(stranger, PRICING["fallback"])
    for content in others(PRICING, None):
        assert not shows(stranger, content)


# -- the pages API ------------------------------------------------------------------------------


def personalized_values(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return [b["value"] for b in response.json()["body"] if b["type"] == "personalized"]


def stored_block(page) -> dict:
    """The page's personalized block as stored: the ids the API must report come from here."""
    return next(b["value"] for b in page.body.raw_data if b["type"] == "personalized")


def test_pages_api_resolves_the_home_block_to_one_variant(seeded):
    url = f"/api/v2/pages/{seeded.pk}/?fields=body"
    stored = stored_block(seeded)
    [security_id] = [
        v["id"] for v in stored["variants"] if v["value"]["name"] == "Security reviewers"
    ]
    v = security_reader()
    shown = variant(HOME_BLOCK, "Security reviewers")
    for response in (
        v.client.get(url),  # the cookie
        Client().get(url, HTTP_X_VISITOR_ID=v.token),  # a headless frontend naming the visitor
    ):
        [value] = personalized_values(response)
        assert set(value) == {"variant", "variant_name", "content"}
        assert value["variant"] == security_id
        assert value["variant_name"] == "Security reviewers"
        assert [b["type"] for b in value["content"]] == [t for t, _ in shown["content"]]
        body = json.dumps(response.json(), ensure_ascii=False)
        assert all(text in body for text in texts(shown["content"]))
        for content in others(HOME_BLOCK, "Security reviewers"):
            for text in texts(content):
                assert text not in body, text

    response = Client().get(url)
    [value] = personalized_values(response)
    assert (value["variant"], value["variant_name"]) == (None, "")
    assert value["content"][0] == {
        "type": "heading",
        "value": heading(HOME_BLOCK["fallback"]),
        "id": stored["fallback"][0]["id"],
    }
    body = json.dumps(response.json(), ensure_ascii=False)
    for content in others(HOME_BLOCK, None):
        for text in texts(content):
            assert text not in body, text
