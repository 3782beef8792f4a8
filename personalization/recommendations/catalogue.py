"""What can be recommended: live Wagtail pages, with what serving and training need of them.

The serving catalogue (titles, URLs, page type, locale, site, tags, first publication) is loaded
once per process per content version (publishing or unpublishing a page bumps it), so a
recommendation request reads no page table on a warm process.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.html import strip_tags
from wagtail.models import Page, Site
from wagtail.search import index

CATALOGUE_TTL = 300.0  # seconds; a safety net should a content version bump be missed


@dataclass(frozen=True)
class CatalogueItem:
    id: str
    title: str
    url: str
    page_type: str  # "app_label.model"
    locale: str
    site_ids: tuple[int, ...]
    tags: frozenset[str]
    first_published_at: datetime | None
    # ``tags`` as bits of one int (``tag_bits``): the re-rank's similarity of two pages is an
    # AND and a popcount instead of a set intersection, some hundred times per request.
    tag_bits: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag_bits", bits_of(self.tags))


_tag_index: dict[str, int] = {}  # tag -> bit, for the life of the process (a site's tags)
_tag_index_lock = threading.Lock()


def bits_of(tags: frozenset[str]) -> int:
    """The tags as an int with one bit per distinct tag this process has seen."""
    bits = 0
    for tag in tags:
        bit = _tag_index.get(tag)
        if bit is None:
            with _tag_index_lock:
                bit = _tag_index.setdefault(tag, len(_tag_index))
        bits |= 1 << bit
    return bits


_lock = threading.Lock()
_loaded: tuple[str, float, dict[str, CatalogueItem], frozenset[int]] | None = None


def _tags(page) -> frozenset[str]:
    tags = getattr(page, "tags", None)
    names = {t.lower() for t in tags.names()} if tags is not None else set()
    category = getattr(page, "category", "")
    if category:
        names.add(f"category:{category}")
    names.add(f"type:{page._meta.label_lower}")
    return frozenset(names)


def load_catalogue() -> dict[str, CatalogueItem]:
    return _load()[0]


def _load() -> tuple[dict[str, CatalogueItem], frozenset[int]]:
    sites = list(Site.objects.select_related("root_page"))
    pages = Page.objects.live().public().exclude(depth=1).select_related("locale").specific()
    items: dict[str, CatalogueItem] = {}
    for page in pages:
        url = page.get_url() or page.url_path
        site_ids = tuple(s.pk for s in sites if page.url_path.startswith(s.root_page.url_path))
        items[str(page.pk)] = CatalogueItem(
            id=str(page.pk),
            title=page.title,
            url=url,
            page_type=page._meta.label_lower,
            locale=page.locale.language_code if page.locale_id else "",
            site_ids=site_ids,
            tags=_tags(page),
            first_published_at=page.first_published_at,
        )
    return items, frozenset(s.pk for s in sites)


def catalogue(content_version: str = "") -> dict[str, CatalogueItem]:
    """The live pages by id, for this content version (cached in the process)."""
    return _current(content_version)[2]


def site_ids(content_version: str = "") -> frozenset[int]:
    """The ids of the Wagtail sites, read with the catalogue (a site filter is checked here)."""
    return _current(content_version)[3]


def _current(content_version: str):
    global _loaded
    current = _loaded
    if (
        current is not None
        and current[0] == content_version
        and time.monotonic() - current[1] < CATALOGUE_TTL
    ):
        return current
    with _lock:
        items, sites = _load()
        _loaded = (content_version, time.monotonic(), items, sites)
        return _loaded


def forget_catalogue() -> None:
    global _loaded
    _loaded = None


_SPACE = re.compile(r"\s+")


def _searchable(page) -> str:
    parts = [page.title, page.search_description or "", str(page._meta.verbose_name)]
    for search_field in page.get_search_fields():
        if not isinstance(search_field, index.SearchField) or search_field.field_name in {"title"}:
            continue
        value = getattr(page, search_field.field_name, None)
        if value is None:
            continue
        try:
            model_field = page._meta.get_field(search_field.field_name)
        except Exception:  # a method or property named in search_fields
            model_field = None
        if model_field is not None and hasattr(model_field, "get_searchable_content"):
            parts.extend(str(v) for v in model_field.get_searchable_content(value))
        else:
            parts.append(strip_tags(str(value)))
    return _SPACE.sub(" ", " ".join(parts)).strip()


def page_texts(item_ids: list[str]) -> list[str]:
    """Text of each item for content-based models: title, search fields (body, intro...),
    tags (twice: they are deliberate), category and page type. Non-page items get ""."""
    ids = [int(i) for i in item_ids if i.isdigit()]
    pages = {str(p.pk): p for p in Page.objects.filter(pk__in=ids).specific().prefetch_related()}
    texts = []
    for item_id in item_ids:
        page = pages.get(item_id)
        if page is None:
            texts.append("")
            continue
        tags = " ".join(sorted(t.replace(":", "_") for t in _tags(page)))
        texts.append(f"{_searchable(page)} {tags} {tags}")
    return texts
