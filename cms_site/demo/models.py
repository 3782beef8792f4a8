"""Page types of the demo site: a home page, articles and products.

Content pages expose ``personalization_properties()``: the personalization app's server-side
page-view capture merges what it returns into the ``page_view`` event's properties.
"""

from __future__ import annotations

import json

from django.db import models
from modelcluster.contrib.taggit import ClusterTaggableManager
from modelcluster.fields import ParentalKey
from taggit.models import TaggedItemBase
from wagtail import blocks
from wagtail.admin.panels import FieldPanel, MultiFieldPanel
from wagtail.api import APIField
from wagtail.fields import RichTextField, StreamField
from wagtail.models import Page
from wagtail.search import index

from personalization.blocks import PersonalizedBlock
from personalization.preview import SegmentPreviewMixin


class BodyBlock(blocks.StreamBlock):
    """Body content shared by the page types; ``personalized`` holds segment-targeted variants."""

    heading = blocks.CharBlock(form_classname="title", max_length=200)
    paragraph = blocks.RichTextBlock(features=["bold", "italic", "link", "ol", "ul"])
    quote = blocks.BlockQuoteBlock()
    personalized = PersonalizedBlock()


def tag_names(page) -> list[str]:
    """Lowercased tag names; works on saved pages and on unsaved previews alike."""
    return sorted({tag.name.lower() for tag in page.tags.all()})


def category_listing(index: Page, request, model, name: str, order: str) -> dict:
    """The live children of an index page, filtered by ``?category=`` when it names one."""
    children = model.objects.child_of(index).live().public().order_by(order, "-pk")
    category = request.GET.get("category", "")
    if category in dict(model.CATEGORY_CHOICES):
        children = children.filter(category=category)
    return {
        name: children,
        "categories": model.CATEGORY_CHOICES,
        "active_category": category,
    }


class HomePage(SegmentPreviewMixin, Page):
    nav_section = "home"
    intro = RichTextField(blank=True, features=["bold", "italic", "link"])
    body = StreamField(BodyBlock(), blank=True)

    max_count = 1
    parent_page_types = ["wagtailcore.Page"]
    subpage_types = ["demo.ArticleIndexPage", "demo.ProductIndexPage"]

    content_panels = Page.content_panels + [FieldPanel("intro"), FieldPanel("body")]
    search_fields = Page.search_fields + [index.SearchField("intro")]
    api_fields = [APIField("intro"), APIField("body")]

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context["latest_articles"] = (
            ArticlePage.objects.live().public().order_by("-date", "-pk")[:3]
        )
        context["featured_products"] = ProductPage.objects.live().public().order_by("title")[:3]
        return context


class ArticleIndexPage(Page):
    nav_section = "articles"
    intro = RichTextField(blank=True, features=["bold", "italic", "link"])

    parent_page_types = ["demo.HomePage"]
    subpage_types = ["demo.ArticlePage"]

    content_panels = Page.content_panels + [FieldPanel("intro")]
    api_fields = [APIField("intro")]

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        return {**context, **category_listing(self, request, ArticlePage, "articles", "-date")}


class ArticlePageTag(TaggedItemBase):
    content_object = ParentalKey(
        "demo.ArticlePage", related_name="tagged_items", on_delete=models.CASCADE
    )


class ArticlePage(SegmentPreviewMixin, Page):
    nav_section = "articles"
    CATEGORY_CHOICES = [
        ("news", "News"),
        ("guides", "Guides"),
        ("case-studies", "Case studies"),
        ("opinion", "Opinion"),
    ]

    date = models.DateField("Post date")
    intro = models.CharField(max_length=300, blank=True)
    body = StreamField(BodyBlock(), blank=True)
    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES, default="news")
    tags = ClusterTaggableManager(through=ArticlePageTag, blank=True)

    parent_page_types = ["demo.ArticleIndexPage"]
    subpage_types: list[str] = []

    content_panels = Page.content_panels + [
        MultiFieldPanel(
            [FieldPanel("date"), FieldPanel("category"), FieldPanel("tags")],
            heading="Article information",
        ),
        FieldPanel("intro"),
        FieldPanel("body"),
    ]
    search_fields = Page.search_fields + [
        index.SearchField("intro"),
        index.SearchField("body"),
        index.FilterField("category"),
        index.FilterField("date"),
    ]
    api_fields = [
        APIField("date"),
        APIField("intro"),
        APIField("body"),
        APIField("category"),
        APIField("tags"),
    ]

    def personalization_properties(self) -> dict:
        return {"tags": tag_names(self), "category": self.category}


class ProductIndexPage(Page):
    nav_section = "products"
    intro = RichTextField(blank=True, features=["bold", "italic", "link"])

    parent_page_types = ["demo.HomePage"]
    subpage_types = ["demo.ProductPage"]

    content_panels = Page.content_panels + [FieldPanel("intro")]
    api_fields = [APIField("intro")]

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        return {**context, **category_listing(self, request, ProductPage, "products", "title")}


class ProductPageTag(TaggedItemBase):
    content_object = ParentalKey(
        "demo.ProductPage", related_name="tagged_items", on_delete=models.CASCADE
    )


class ProductPage(SegmentPreviewMixin, Page):
    nav_section = "products"
    CATEGORY_CHOICES = [
        ("software", "Software"),
        ("hardware", "Hardware"),
        ("services", "Services"),
        ("training", "Training"),
    ]

    sku = models.CharField("SKU", max_length=64, db_index=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    description = RichTextField(blank=True)
    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES, default="software")
    tags = ClusterTaggableManager(through=ProductPageTag, blank=True)

    parent_page_types = ["demo.ProductIndexPage"]
    subpage_types: list[str] = []

    content_panels = Page.content_panels + [
        MultiFieldPanel(
            [FieldPanel("sku"), FieldPanel("price"), FieldPanel("category"), FieldPanel("tags")],
            heading="Product information",
        ),
        FieldPanel("description"),
    ]
    search_fields = Page.search_fields + [
        index.SearchField("description"),
        index.SearchField("sku"),
        index.FilterField("category"),
    ]
    api_fields = [
        APIField("sku"),
        APIField("price"),
        APIField("description"),
        APIField("category"),
        APIField("tags"),
    ]

    def personalization_properties(self) -> dict:
        return {"tags": tag_names(self), "category": self.category, "price": float(self.price)}

    def add_to_cart_props(self) -> str:
        """JSON for the tracker's ``data-pz-props`` on the add-to-cart button."""
        return json.dumps({"sku": self.sku, "value": float(self.price), "currency": "EUR"})
