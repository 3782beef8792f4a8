"""Seed the demo site: pages, personalized content, an admin user, editor groups and synthetic
visitors.

Idempotent for content: pages and personalized snippets are found by slug and only missing ones
are created, so running it twice creates nothing new. Pages seeded by an older version of this
command get their ``personalized`` block added (as a new published revision) once.

Visitors are generated from behavioural archetypes and fed through the personalization app's
own services (consent, then one ``ingest_events`` call per visit), exactly as real traffic
would be. With ``--seed`` the visitors are reproducible too: the same seed yields the same
visitor ids and client event ids, which ingestion deduplicates.

    manage.py seed_demo                      # pages, users, 2000 visitors
    manage.py seed_demo --no-visitors        # pages, personalized content and users only
    manage.py seed_demo --visitors 300 --seed 42

An experiment runs on the welcome banner ("Banner: AI assistant copy for everyone"): the default
content against the "AI readers" variant, signups as the primary goal and purchases (revenue)
as the secondary one. Each simulated visitor with analytics consent is shown the banner on their
first visit through the product's own decide and exposure logging, and visitors shown the
variant sign up a little more often, so the experiment's results page fills with traffic.
"""

from __future__ import annotations

import random
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from wagtail.models import Page, Site

from cms_site.demo import seed_data
from cms_site.demo.models import (
    ArticleIndexPage,
    ArticlePage,
    HomePage,
    ProductIndexPage,
    ProductPage,
)

WELCOME_TITLE = "Welcome to your new Wagtail site!"
# Block ids of seeded content are derived from where the block lives, so they are the same on
# every machine and every run: variant ids are what impressions and the decide API report.
SEED_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://demo.example.com/seed_demo")
GROUPS = (
    "Personalization editors",
    "Personalization analysts",
    "Personalization privacy officers",
)
HISTORY_DAYS = 28
# Fixed, so that running `make demo` again finds the same visitors (and adds none).
DEFAULT_SEED = 2026
DEFAULT_VISITORS = 800


# --------------------------------------------------------------------------------------------
# Behaviour model
# --------------------------------------------------------------------------------------------

USER_AGENTS = {
    "desktop": [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
    ],
    "mobile": [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Mobile Safari/537.36",
    ],
    "tablet": [
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
    ],
}

LANGUAGES = {
    "DE": "de-DE",
    "AT": "de-AT",
    "GB": "en-GB",
    "US": "en-US",
    "FR": "fr-FR",
    "NL": "nl-NL",
    "ES": "es-ES",
    "IT": "it-IT",
    "SE": "sv-SE",
    "IN": "en-IN",
    "CA": "en-CA",
}

REFERRERS = {
    "google": "https://www.google.com/",
    "bing": "https://www.bing.com/",
    "linkedin": "https://www.linkedin.com/",
    "x": "https://t.co/",
    "hn": "https://news.ycombinator.com/",
    "reddit": "https://www.reddit.com/",
    "g2": "https://www.g2.com/",
    "direct": "",
    "newsletter": "",
    "ads": "",
}

CAMPAIGNS = {
    "newsletter": [
        ("newsletter", "email", "monthly-digest"),
        ("newsletter", "email", "product-update"),
    ],
    "ads": [
        ("google", "cpc", "brand-search"),
        ("linkedin", "paid-social", "enterprise-security"),
        ("google", "cpc", "startup-pricing"),
    ],
}


@dataclass(frozen=True)
class Archetype:
    name: str
    weight: float
    tag_affinity: dict[str, float]
    category_affinity: dict[str, float]
    product_share: float  # chance a page view is a product page
    devices: dict[str, float]
    countries: dict[str, float]
    sources: dict[str, float]
    visits: tuple[int, int]
    events: tuple[int, int]
    searches: tuple[str, ...]
    cart_rate: float  # chance to add to cart when on a product page
    purchase_rate: float  # chance a visit with a cart ends in a purchase
    signup_rate: float  # chance per visitor
    campaign_bias: tuple[str, ...] = field(default=())


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        name="security-minded enterprise buyer",
        weight=0.2,
        tag_affinity={"security": 6, "enterprise": 5, "analytics": 1, "pricing": 1},
        category_affinity={"case-studies": 2, "news": 1, "software": 2, "services": 2},
        product_share=0.4,
        devices={"desktop": 0.85, "mobile": 0.1, "tablet": 0.05},
        countries={"DE": 0.3, "GB": 0.2, "US": 0.25, "FR": 0.1, "NL": 0.1, "AT": 0.05},
        sources={"google": 0.35, "linkedin": 0.2, "direct": 0.2, "g2": 0.1, "ads": 0.15},
        visits=(2, 7),
        events=(3, 10),
        searches=("soc 2 report", "sso scim", "data residency", "audit logs", "enterprise plan"),
        cart_rate=0.12,
        purchase_rate=0.25,
        signup_rate=0.25,
        campaign_bias=("enterprise-security",),
    ),
    Archetype(
        name="startup founder",
        weight=0.2,
        tag_affinity={"startup": 6, "pricing": 5, "onboarding": 2, "analytics": 1},
        category_affinity={"opinion": 2, "news": 1, "software": 2},
        product_share=0.35,
        devices={"desktop": 0.5, "mobile": 0.45, "tablet": 0.05},
        countries={"US": 0.4, "GB": 0.2, "DE": 0.15, "FR": 0.1, "CA": 0.1, "IN": 0.05},
        sources={
            "x": 0.2,
            "hn": 0.15,
            "google": 0.25,
            "direct": 0.15,
            "newsletter": 0.1,
            "ads": 0.15,
        },
        visits=(1, 5),
        events=(2, 8),
        searches=("pricing", "free tier", "startup programme", "starter plan", "cost"),
        cart_rate=0.15,
        purchase_rate=0.3,
        signup_rate=0.4,
        campaign_bias=("startup-pricing",),
    ),
    Archetype(
        name="developer",
        weight=0.25,
        tag_affinity={"devops": 6, "ai": 4, "analytics": 3, "security": 1},
        category_affinity={"guides": 3, "training": 2, "hardware": 1},
        product_share=0.2,
        devices={"desktop": 0.8, "mobile": 0.18, "tablet": 0.02},
        countries={"US": 0.25, "DE": 0.2, "GB": 0.15, "NL": 0.1, "SE": 0.1, "IN": 0.1, "FR": 0.1},
        sources={"google": 0.4, "hn": 0.15, "reddit": 0.1, "direct": 0.25, "newsletter": 0.1},
        visits=(1, 8),
        events=(2, 10),
        searches=("kubernetes helm", "api keys", "anomaly detection", "alerting", "ci traces"),
        cart_rate=0.05,
        purchase_rate=0.3,
        signup_rate=0.3,
    ),
    Archetype(
        name="casual reader",
        weight=0.25,
        tag_affinity={},
        category_affinity={"news": 3, "opinion": 3},
        product_share=0.08,
        devices={"mobile": 0.6, "desktop": 0.3, "tablet": 0.1},
        countries={"US": 0.25, "GB": 0.2, "DE": 0.15, "FR": 0.1, "ES": 0.1, "IT": 0.1, "CA": 0.1},
        sources={
            "google": 0.3,
            "x": 0.2,
            "linkedin": 0.15,
            "direct": 0.15,
            "reddit": 0.1,
            "newsletter": 0.1,
        },
        visits=(1, 2),
        events=(1, 4),
        searches=("ai", "news"),
        cart_rate=0.01,
        purchase_rate=0.1,
        signup_rate=0.03,
    ),
    Archetype(
        name="returning customer",
        weight=0.1,
        tag_affinity={"onboarding": 3, "analytics": 2, "devops": 2, "ai": 2},
        category_affinity={"guides": 2, "training": 3, "software": 2, "services": 1},
        product_share=0.5,
        devices={"desktop": 0.7, "mobile": 0.25, "tablet": 0.05},
        countries={"DE": 0.25, "GB": 0.25, "US": 0.3, "FR": 0.1, "NL": 0.1},
        sources={"direct": 0.5, "newsletter": 0.3, "google": 0.2},
        visits=(3, 8),
        events=(3, 10),
        searches=("ai assistant", "training", "security keys", "invoice"),
        cart_rate=0.45,
        purchase_rate=0.7,
        signup_rate=0.0,
    ),
)


DEMO_EXPERIMENT = "welcome-banner-test"
DEMO_EFFECT = 0.04  # extra chance per visit that a visitor shown the variant signs up


def pick(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys], k=1)[0]


def spread(rng: random.Random, low: int, high: int) -> int:
    """An integer in [low, high] skewed towards low: most visits and sessions are short."""
    return min(high, low + int(rng.expovariate(1.0 / max(1.0, (high - low) / 2.5))))


@dataclass
class SeedStats:
    visitors: int = 0
    consented: int = 0
    visits: int = 0
    events_sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0
    purchases: int = 0
    exposed: int = 0
    existing: int = 0  # already seeded by an earlier run with the same seed: left as they are
    by_archetype: dict[str, int] = field(default_factory=dict)
    # The latent persona each visitor was generated from (benchmarks score the clustering
    # against it; it is never stored on the profile).
    latent: dict[uuid.UUID, str] = field(default_factory=dict)


class VisitorSimulator:
    """Generates visits for one archetype at a time from the seeded page catalogue."""

    def __init__(
        self, rng: random.Random, articles: list[dict], products: list[dict], now: datetime
    ):
        self.rng = rng
        self.articles = articles
        self.products = products
        self.now = now

    def page_weights(self, pages: list[dict], archetype: Archetype) -> list[float]:
        weights = []
        for page in pages:
            w = 1.0 + archetype.category_affinity.get(page["category"], 0)
            w += sum(archetype.tag_affinity.get(tag, 0) for tag in page["tags"])
            weights.append(w)
        return weights

    def choose_page(self, archetype: Archetype) -> dict:
        pool = self.products if self.rng.random() < archetype.product_share else self.articles
        return self.rng.choices(pool, weights=self.page_weights(pool, archetype), k=1)[0]

    def context_for_visit(self, archetype, device, country, landing: dict):
        from personalization.types import RequestContext

        source = pick(self.rng, archetype.sources)
        url = f"https://demo.example.com{landing['url']}"
        referrer = REFERRERS[source]
        if source in CAMPAIGNS:
            campaigns = CAMPAIGNS[source]
            biased = [c for c in campaigns if c[2] in archetype.campaign_bias]
            utm_source, medium, campaign = self.rng.choice(biased or campaigns)
            url += f"?utm_source={utm_source}&utm_medium={medium}&utm_campaign={campaign}"
            referrer = "" if medium == "email" else REFERRERS.get(utm_source, "")
        return RequestContext.from_user_agent(
            self.rng.choice(USER_AGENTS[device]),
            country=country,
            language=LANGUAGES.get(country, "en-US"),
            referrer=referrer,
            url=url,
        )

    def visit_times(self, archetype: Archetype) -> list[datetime]:
        count = spread(self.rng, *archetype.visits)
        horizon = HISTORY_DAYS * 86400
        first = self.rng.uniform(3600, horizon)  # seconds before now
        offsets = sorted((self.rng.uniform(1800, first) for _ in range(count - 1)), reverse=True)
        return [self.now - timedelta(seconds=s) for s in [first, *offsets]]

    def visit_events(
        self,
        archetype: Archetype,
        start: datetime,
        visitor_key: str,
        visit_no: int,
        signed_up: bool,
    ) -> tuple[list, dict, bool]:
        """Events of one visit, the landing page, and whether the visitor signed up in it."""
        from personalization.types import EventIn

        rng = self.rng
        events: list[EventIn] = []
        moment = start
        count = spread(rng, *archetype.events)
        cart: list[dict] = []
        current = self.choose_page(archetype)
        landing = current

        def add(event_type: str, properties: dict) -> None:
            nonlocal moment
            client_id = f"seed-{visitor_key}-{visit_no}-{len(events)}"
            events.append(EventIn(event_type, moment, properties, client_id))
            moment += timedelta(seconds=rng.uniform(8, 150))

        add("page_view", page_view_props(current))
        while len(events) < count:
            roll = rng.random()
            if current["kind"] == "product" and roll < archetype.cart_rate:
                add(
                    "click",
                    {"page_id": current["id"], "title": "Add to cart", "url": current["url"]},
                )
                add(
                    "add_to_cart",
                    {
                        "sku": current["sku"],
                        "value": current["price"],
                        "currency": "EUR",
                        "page_id": current["id"],
                        "page_type": current["page_type"],
                    },
                )
                cart.append(current)
            elif roll < 0.12 and archetype.searches:
                add("search", {"query": rng.choice(archetype.searches)})
            elif roll < 0.22:
                seen = self.choose_page(archetype)
                add("content_view", {k: v for k, v in page_view_props(seen).items() if k != "url"})
            elif roll < 0.30:
                target = self.choose_page(archetype)
                add(
                    "click",
                    {"page_id": current["id"], "title": target["title"], "url": target["url"]},
                )
                current = target
                add("page_view", page_view_props(current))
            else:
                current = self.choose_page(archetype)
                add("page_view", page_view_props(current))
        if not signed_up and rng.random() < archetype.signup_rate / 2:
            add("signup", {"url": "/signup/", "title": "Create your workspace"})
            signed_up = True
        if cart and rng.random() < archetype.purchase_rate:
            total = round(sum(item["price"] for item in cart), 2)
            add(
                "purchase",
                {"value": total, "currency": "EUR", "order_id": f"NW-{visitor_key[:8]}-{visit_no}"},
            )
        return events, landing, signed_up


def page_view_props(page: dict) -> dict:
    return {
        "page_id": page["id"],
        "page_type": page["page_type"],
        "tags": page["tags"],
        "category": page["category"],
        "url": page["url"],
        "title": page["title"],
    }


def catalogue_entry(page, kind: str) -> dict:
    props = page.personalization_properties()
    entry = {
        "id": page.pk,
        "kind": kind,
        "page_type": page._meta.label_lower,
        "title": page.title,
        "url": page.get_url() or page.url_path,
        "tags": props["tags"],
        "category": props["category"],
    }
    if kind == "product":
        entry["sku"] = page.sku
        entry["price"] = float(page.price)
    return entry


# --------------------------------------------------------------------------------------------
# Personalized content: seed_data definitions as raw StreamField JSON
# --------------------------------------------------------------------------------------------


def seed_id(*path: object) -> str:
    return str(uuid.uuid5(SEED_NAMESPACE, "/".join(str(part) for part in path)))


def raw_stream(items: list[tuple[str, object]], *path: object) -> list[dict]:
    """(block type, value) pairs as a StreamField's stored JSON, with stable ids."""
    return [
        {"type": block_type, "value": value, "id": seed_id(*path, i)}
        for i, (block_type, value) in enumerate(items)
    ]


def raw_variant(variant: dict, *path: object) -> dict:
    """A ``VariantBlock`` value as stored JSON."""
    return {
        "name": variant["name"],
        "segments": list(variant["segments"]),
        "match": variant.get("match", "any"),
        "start": None,
        "end": None,
        "content": raw_stream(variant["content"], *path, "content"),
    }


def raw_personalized_block(data: dict, owner: str) -> dict:
    """A ``personalized`` body block: a ``PersonalizedBlock`` (a StructBlock whose ``variants``
    is a ListBlock, stored as ``{"type": "item", "value": ..., "id": ...}`` items)."""
    return {
        "type": "personalized",
        "id": seed_id(owner, "personalized"),
        "value": {
            "variants": [
                {
                    "type": "item",
                    "value": raw_variant(variant, owner, variant["name"]),
                    "id": seed_id(owner, variant["name"]),
                }
                for variant in data["variants"]
            ],
            "fallback": raw_stream(data["fallback"], owner, "fallback"),
        },
    }


def demo_api_key() -> str:
    """The demo's API key, generated once into ``settings.DEMO_API_KEY_FILE`` (git-ignored),
    which the demo's settings read with DEBUG, so the docs' curl examples work as written."""
    path = Path(settings.DEMO_API_KEY_FILE)
    key = path.read_text().strip() if path.is_file() else ""
    if not key:
        key = secrets.token_urlsafe(24)
        path.write_text(key + "\n")
        path.chmod(0o600)
    return key


def has_personalized_block(page) -> bool:
    return any(block.block_type == "personalized" for block in page.body)


# --------------------------------------------------------------------------------------------
# Command
# --------------------------------------------------------------------------------------------


class Command(BaseCommand):
    help = "Create the demo site's pages, users and groups, and simulate visitor traffic."

    def add_arguments(self, parser):
        parser.add_argument(
            "--visitors",
            type=int,
            default=DEFAULT_VISITORS,
            help=f"Synthetic visitors to simulate ({DEFAULT_VISITORS}).",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            help=f"Random seed ({DEFAULT_SEED}): the same seed makes the same visitors, so a "
            "re-run adds none.",
        )
        parser.add_argument(
            "--no-visitors", action="store_true", help="Create content and users only."
        )

    def handle(self, *args, visitors: int, seed: int | None, no_visitors: bool, **options):
        if visitors < 0:
            raise CommandError("--visitors must be zero or more.")
        rng = random.Random(seed)
        self.created_pages = 0
        self.personalized_blocks_added = 0
        with transaction.atomic():
            home = self.seed_pages()
            snippets = self.seed_personalized_content()
        self.experiment = self.seed_experiment()
        self.seed_users()
        stats = SeedStats()
        if not no_visitors and visitors:
            stats = self.seed_visitors(rng, visitors, seed)
        if not no_visitors and visitors:
            self.train_models()
        sizes = self.seed_segments()
        recommender = self.seed_recommender()
        api_key = demo_api_key()
        self.stdout.write(self.style.SUCCESS("Demo site ready."))
        self.stdout.write(f"  pages created:    {self.created_pages}")
        self.stdout.write(f"  articles:         {ArticlePage.objects.live().count()}")
        self.stdout.write(f"  products:         {ProductPage.objects.live().count()}")
        self.stdout.write(f"  home page:        {home.title} (id {home.pk})")
        from personalization.variants.models import PersonalizedContent

        with_block = sum(
            has_personalized_block(page)
            for page in [home, *ArticlePage.objects.filter(slug__in=seed_data.PERSONALIZED_BLOCKS)]
        )
        self.stdout.write(
            f"  personalized:     {PersonalizedContent.objects.count()} snippets "
            f"({snippets} created now), {with_block} pages with a personalized block "
            f"({self.personalized_blocks_added} added now)"
        )
        if not no_visitors and visitors:
            self.stdout.write(
                f"  visitors:         {stats.visitors - stats.existing} added, "
                f"{stats.existing} already there (seed {seed}; "
                f"{stats.consented} of {stats.visitors} with analytics consent)"
            )
            self.stdout.write(f"  visits:           {stats.visits}")
            self.stdout.write(
                f"  events:           {stats.events_sent} sent, {stats.accepted} stored, "
                f"{stats.duplicates} duplicates, {stats.ignored} ignored (no consent)"
            )
            self.stdout.write(f"  purchases:        {stats.purchases}")
            self.stdout.write(
                f"  experiment:       {stats.exposed} visitors shown the banner test "
                "(admin: Personalization > Experiments > Results)"
            )
            mix = ", ".join(f"{name}: {n}" for name, n in sorted(stats.by_archetype.items()))
            self.stdout.write(f"  archetypes:       {mix}")
        for slug, size in sizes.items():
            self.stdout.write(f"  segment {slug:<22} {size} members")
        if recommender is not None:
            ndcg = recommender.metrics.get("time", {}).get("model", {}).get("ndcg@10")
            self.stdout.write(
                f"  recommender:      v{recommender.pk} {recommender.algorithm}, "
                f"{recommender.n_interactions} interactions, NDCG@10 {ndcg} (time split)"
            )
        self.stdout.write(
            f"  API key (demo):   {api_key}  (in {settings.DEMO_API_KEY_FILE.name}; send it as "
            f"'Authorization: Api-Key {api_key}'; the demo reads it with DEBUG=1 only)"
        )

    def seed_recommender(self):
        """Train and activate a recommender so "Recommended for you" shows at once."""
        from personalization.recommendations.training import train

        return train()

    # -- models ----------------------------------------------------------------------------

    def train_models(self) -> None:
        """Personas and scores, trained once on the simulated visitors and activated, so the
        demo's profile panel and the persona/score conditions have something to show."""
        from personalization.scoring.services import train_models

        for version in train_models(activate_new=True, actor="seed_demo"):
            if version.status == version.Status.READY:
                self.stdout.write(f"  model {version}: trained and active")
            else:
                self.stdout.write(self.style.WARNING(f"  model {version}: {version.error}"))

    # -- segments --------------------------------------------------------------------------

    def seed_segments(self) -> dict[str, int]:
        """Segments an editor would write for this site, enabled and computed in bulk."""
        from personalization.segments.models import Segment
        from personalization.segments.services import recompute_segment, save_segment

        sizes = {}
        for slug, name, priority, description, rules in seed_data.SEGMENTS:
            segment = Segment.objects.filter(slug=slug).first() or Segment(slug=slug)
            segment.name, segment.priority, segment.description = name, priority, description
            segment.rules, segment.status = rules, Segment.Status.ENABLED
            save_segment(segment)
        for segment in Segment.objects.filter(slug__in=[s[0] for s in seed_data.SEGMENTS]):
            sizes[segment.slug] = recompute_segment(segment)["size"]
        return sizes

    # -- pages -----------------------------------------------------------------------------

    def publish(self, page: Page) -> None:
        page.save_revision().publish()
        self.created_pages += 1

    def seed_pages(self) -> HomePage:
        root = Page.get_first_root_node()
        if root is None:
            raise CommandError("No Wagtail tree root; run migrate first.")
        home = HomePage.objects.filter(depth=2).first()
        plain_page = ContentType.objects.get_for_model(Page)
        welcome = list(
            Page.objects.child_of(root).filter(content_type=plain_page, title=WELCOME_TITLE)
        )
        if home is None:
            # The welcome page usually holds the slug "home": move it aside first.
            Page.objects.child_of(root).filter(slug="home").exclude(
                content_type=ContentType.objects.get_for_model(HomePage)
            ).update(slug="welcome-replaced")
            data = seed_data.HOME
            home = HomePage(
                title=data["title"],
                slug="home",
                intro=data["intro"],
                body=[{"type": t, "value": v} for t, v in data["body"]]
                + self.personalized_body("home"),
            )
            root.add_child(instance=home)
            self.publish(home)
            self.stdout.write(f"Created home page '{home.title}'.")

        site = Site.objects.filter(is_default_site=True).first() or Site.objects.first()
        if site is None:
            Site.objects.create(
                hostname="localhost",
                port=80,
                root_page=home,
                is_default_site=True,
                site_name="Northwind Cloud",
            )
            self.stdout.write("Created the default site.")
        elif site.root_page_id != home.pk:
            site.root_page = home
            site.site_name = site.site_name or "Northwind Cloud"
            site.save()
            self.stdout.write(f"Pointed site {site.hostname}:{site.port} at the home page.")

        for page in welcome:
            if not Site.objects.filter(root_page=page).exists():
                page.delete()
                self.stdout.write("Deleted the default welcome page.")

        article_index = self.index_page(home, ArticleIndexPage, seed_data.ARTICLE_INDEX)
        product_index = self.index_page(home, ProductIndexPage, seed_data.PRODUCT_INDEX)

        today = timezone.localdate()
        existing = set(ArticlePage.objects.child_of(article_index).values_list("slug", flat=True))
        for i, item in enumerate(seed_data.ARTICLES):
            if item["slug"] in existing:
                continue
            body = []
            for heading, paragraph in item["sections"]:
                body.append({"type": "heading", "value": heading})
                body.append({"type": "paragraph", "value": f"<p>{paragraph}</p>"})
            if item.get("quote"):
                body.insert(2, {"type": "quote", "value": item["quote"]})
            body += self.personalized_body(item["slug"])
            page = ArticlePage(
                title=item["title"],
                slug=item["slug"],
                date=today - timedelta(days=3 + i * 4),
                intro=item["intro"],
                category=item["category"],
                body=body,
                search_description=item["intro"],
            )
            page.tags.add(*item["tags"])
            article_index.add_child(instance=page)
            self.publish(page)

        existing = set(ProductPage.objects.child_of(product_index).values_list("slug", flat=True))
        for item in seed_data.PRODUCTS:
            if item["slug"] in existing:
                continue
            page = ProductPage(
                title=item["title"],
                slug=item["slug"],
                sku=item["sku"],
                price=Decimal(item["price"]),
                category=item["category"],
                description=f"<p>{item['description']}</p>",
                search_description=item["description"],
            )
            page.tags.add(*item["tags"])
            product_index.add_child(instance=page)
            self.publish(page)
        self.add_missing_personalized_blocks(home)
        return home

    def personalized_body(self, slug: str) -> list[dict]:
        """The page's seeded ``personalized`` block, if seed_data defines one for it."""
        data = seed_data.PERSONALIZED_BLOCKS.get(slug)
        return [raw_personalized_block(data, slug)] if data else []

    def add_missing_personalized_blocks(self, home: HomePage) -> None:
        """Pages seeded before personalized blocks existed get theirs, once, as a new revision.
        Pages with an unpublished draft are left alone rather than publishing an editor's work."""
        for slug in seed_data.PERSONALIZED_BLOCKS:
            page = home if slug == "home" else ArticlePage.objects.filter(slug=slug).first()
            if page is None or has_personalized_block(page):
                continue
            if page.has_unpublished_changes:
                self.stdout.write(
                    self.style.WARNING(
                        f"Not adding a personalized block to '{page.title}': "
                        "it has unpublished changes."
                    )
                )
                continue
            page.body = list(page.body.raw_data) + self.personalized_body(slug)
            page.save_revision().publish()
            self.personalized_blocks_added += 1
            self.stdout.write(f"Added a personalized block to '{page.title}'.")

    # -- personalized snippets -------------------------------------------------------------

    def seed_experiment(self):
        """A running A/B test on the welcome banner (created once; editors may change it)."""
        from personalization.experiments.models import Arm, Experiment, Goal
        from personalization.experiments.services import transition
        from personalization.variants.models import PersonalizedContent

        existing = Experiment.objects.filter(slug=DEMO_EXPERIMENT).first()
        if existing is not None:
            return existing if existing.status == Experiment.Status.RUNNING else None
        banner = PersonalizedContent.objects.filter(slug="welcome-banner").first()
        variant = next(
            (c for c in (banner.variants if banner else []) if c.value.get("name") == "AI readers"),
            None,
        )
        if variant is None:
            return None
        with transaction.atomic():
            experiment = Experiment.objects.create(
                name="Banner: AI assistant copy for everyone",
                slug=DEMO_EXPERIMENT,
                hypothesis="The AI assistant banner makes more visitors sign up than the default.",
                placements=["welcome-banner"],
                default_audience_only=True,  # visitors a variant targets keep seeing it
                baseline_rate=0.2,
                minimum_effect=0.2,
            )
            Arm.objects.create(
                experiment=experiment,
                key="a",
                name="Default banner",
                variants={"welcome-banner": ""},
                is_control=True,
                sort_order=0,
            )
            Arm.objects.create(
                experiment=experiment,
                key="b",
                name="AI readers banner",
                variants={"welcome-banner": str(variant.id)},
                sort_order=1,
            )
            Goal.objects.create(
                experiment=experiment, name="Signup", event_type="signup", primary=True
            )
            Goal.objects.create(
                experiment=experiment,
                name="Purchase",
                event_type="purchase",
                value_property="value",
                sort_order=1,
            )
        self.stdout.write("Created the banner experiment.")
        return transition(experiment, "start", actor="seed_demo")

    def show_banner(self, visitor_id, context, start) -> str | None:
        """The banner as a page view would show it: decide, then log the exposure, at the
        visit's time. Returns the arm, or None if the visitor is not in the experiment."""
        import dataclasses

        from personalization.context import build_visitor_context
        from personalization.decisions import decide, record_shown

        visitor = build_visitor_context(visitor_id, context)
        visitor = dataclasses.replace(visitor, now=start)
        decisions = decide(["welcome-banner"], visitor, content_version=visitor.versions[1])
        record_shown(visitor, decisions)
        assignment = decisions[0].assignment
        return assignment.arm if assignment is not None else None

    def seed_personalized_content(self) -> int:
        """The snippets the templates show (``{% personalized_snippet "slug" %}``); existing
        ones are left as editors made them."""
        from personalization.variants.models import PersonalizedContent

        created = 0
        existing = set(PersonalizedContent.objects.values_list("slug", flat=True))
        for data in seed_data.PERSONALIZED_CONTENT:
            if data["slug"] in existing:
                continue
            slug = data["slug"]
            PersonalizedContent.objects.create(
                name=data["name"],
                slug=slug,
                description=data["description"],
                variants=[
                    {
                        "type": "variant",
                        "value": raw_variant(variant, slug, variant["name"]),
                        "id": seed_id(slug, variant["name"]),
                    }
                    for variant in data["variants"]
                ],
                fallback=raw_stream(data["fallback"], slug, "fallback"),
            )
            created += 1
            self.stdout.write(f"Created personalized content '{data['name']}'.")
        return created

    def index_page(self, home: HomePage, model, data: dict):
        page = model.objects.child_of(home).filter(slug=data["slug"]).first()
        if page is None:
            page = model(title=data["title"], slug=data["slug"], intro=data["intro"])
            home.add_child(instance=page)
            self.publish(page)
        return page

    # -- users -----------------------------------------------------------------------------

    def seed_users(self) -> None:
        User = get_user_model()  # noqa: N806
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@example.com", "admin")
            self.stdout.write(
                self.style.WARNING("Created superuser admin / admin (change the password!).")
            )
        for name in GROUPS:
            _, created = Group.objects.get_or_create(name=name)
            if created:
                self.stdout.write(f"Created group '{name}'.")

    # -- visitors --------------------------------------------------------------------------

    def seed_visitors(self, rng: random.Random, count: int, seed: int | None) -> SeedStats:
        try:
            from personalization.consent.services import record_consent
        except ImportError as exc:
            raise CommandError(f"The personalization app is not importable: {exc}") from exc
        from personalization.ingestion import ingest_events
        from personalization.profiles.folding import fold_visitor

        articles = [
            catalogue_entry(p, "article")
            for p in ArticlePage.objects.live().prefetch_related("tagged_items__tag")
        ]
        products = [
            catalogue_entry(p, "product")
            for p in ProductPage.objects.live().prefetch_related("tagged_items__tag")
        ]
        if not articles or not products:
            raise CommandError("No published articles or products to visit.")

        now = timezone.now()
        simulator = VisitorSimulator(rng, articles, products, now)
        stats = SeedStats()
        started = time.monotonic()
        tools = (record_consent, ingest_events, fold_visitor)
        from personalization.consent.models import ConsentRecord
        from personalization.profiles.models import VisitorProfile

        # Visitors who declined have consent records but no profile.
        self.existing_ids = set(VisitorProfile.objects.values_list("visitor_id", flat=True))
        self.existing_ids |= set(ConsentRecord.objects.values_list("visitor_id", flat=True))
        for first in range(1, count + 1, 100):
            with transaction.atomic():  # commit every 100 visitors: far fewer fsyncs on SQLite
                for n in range(first, min(first + 100, count + 1)):
                    self.seed_one_visitor(n, count, rng, simulator, stats, started, tools)
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Simulated {stats.visitors - stats.existing} new visitors "
            f"({stats.existing} already there) in {elapsed:.1f}s"
            + (f" (seed {seed})" if seed is not None else "")
            + "."
        )
        return stats

    def seed_one_visitor(self, n, count, rng, simulator, stats, started, tools) -> None:
        from personalization.types import EventIn

        record_consent, ingest_events, fold_visitor = tools
        weights = [a.weight for a in ARCHETYPES]
        archetype = rng.choices(ARCHETYPES, weights=weights, k=1)[0]
        visitor_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        key = visitor_id.hex[:16]
        stats.visitors += 1
        stats.by_archetype[archetype.name] = stats.by_archetype.get(archetype.name, 0) + 1
        stats.latent[visitor_id] = archetype.name
        # A visitor an earlier run with this seed made: their visits are still generated (the
        # random stream must not drift for the visitors after them) but nothing is written.
        existing = visitor_id in self.existing_ids
        stats.existing += existing

        if rng.random() < 0.9:
            choices = {
                "necessary": True,
                "analytics": True,
                "personalization": True,
                "marketing": rng.random() < 0.35,
            }
            stats.consented += 1
        else:
            choices = {
                "necessary": True,
                "analytics": False,
                "personalization": False,
                "marketing": False,
            }
        if not existing:
            record_consent(visitor_id, choices, source="seed_demo")

        device = pick(rng, archetype.devices)
        country = pick(rng, archetype.countries)
        signed_up = False
        arm = None
        boosted = False
        effect_rng = random.Random(f"{key}-banner-test")
        for visit_no, start in enumerate(simulator.visit_times(archetype)):
            visit_device = device if rng.random() < 0.8 else pick(rng, archetype.devices)
            events, landing, signed_up = simulator.visit_events(
                archetype, start, key, visit_no, signed_up
            )
            context = simulator.context_for_visit(archetype, visit_device, country, landing)
            if existing:
                continue
            if visit_no == 0 and self.experiment is not None and choices["analytics"]:
                arm = self.show_banner(visitor_id, context, start)
                stats.exposed += arm is not None
            # Its own random stream: whether a visitor is shown the test depends on their
            # profile, which a second run finds already built, and the main stream must not
            # drift with it (the same seed gives the same visitors).
            if arm == "b" and not (signed_up or boosted) and effect_rng.random() < DEMO_EFFECT:
                # the variant's effect: a few more visitors sign up after seeing it (not fed
                # back into the simulation, whose random stream must not depend on the test)
                boosted = True
                events.append(
                    EventIn(
                        type="signup",
                        timestamp=events[-1].timestamp + timedelta(seconds=30),
                        client_id=f"{key}-{visit_no}-banner-signup",
                    )
                )
            # One fold per visitor, after all their visits, instead of one per visit.
            result = ingest_events(visitor_id, events, context, fold=False)
            stats.visits += 1
            stats.events_sent += len(events)
            stats.accepted += result.accepted
            stats.duplicates += result.duplicates
            stats.ignored += result.ignored
            if result.accepted:
                stats.purchases += sum(1 for e in events if e.type == "purchase")

        if not existing:
            fold_visitor(visitor_id)
        if n == count and self.experiment is not None:
            from personalization.experiments.services import flush_exposures

            flush_exposures()
        if n % 500 == 0 or n == count:
            elapsed = time.monotonic() - started
            self.stdout.write(
                f"  {n}/{count} visitors, {stats.events_sent} events "
                f"({elapsed:.1f}s, {n / elapsed:.0f} visitors/s)"
            )
