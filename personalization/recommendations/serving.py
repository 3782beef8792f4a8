"""Serving recommendations: one cache round trip for the stored lists, the database behind it,
on-the-fly scoring for visitors without a list, then re-ranking.

The cache holds, per key, ``(version id, list)``: the active version id, the visitor's list,
the context item's neighbours and the popular lists are read in one ``get_many`` (the API reads
them in the round trip that reads versions and snapshot: ``cache_keys``). A list of another
version than the active one is a miss (activation needs no flush).
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
from django.utils import timezone

from ..background import broker_configured
from ..conf import get_setting
from ..consent.services import effective_consent, visitors_collecting_events
from ..context import VisitorContext
from ..segments.services import visitor_snapshot
from ..visitor_cache import cache, drain_list, push_rows
from . import artefacts
from .algorithms import top_n
from .catalogue import CatalogueItem, catalogue, site_ids
from .interactions import recent_items
from .models import (
    RecommendationImpression,
    RecommenderVersion,
    SimilarItems,
    VisitorRecommendations,
)

ACTIVE_KEY = "personalization:recs:active"
POPULAR_KEY = "__popular__"


def visitor_key(visitor_id) -> str:
    return f"personalization:recs:visitor:{visitor_id}"


def item_key(item_id: str) -> str:
    return f"personalization:recs:item:{item_id}"


def _ttl() -> int:
    return get_setting("RECOMMENDATIONS_CACHE_TTL")


def set_active(version_id: int | None) -> None:
    cache().set(ACTIVE_KEY, version_id or 0, _ttl())


def active_version_id() -> int:
    return (
        RecommenderVersion.objects.filter(is_active=True).values_list("pk", flat=True).first() or 0
    )


def cache_lists(version_id: int, chunk: int = 2000) -> int:
    """Copy a version's stored lists into the cache (after activation); returns keys written."""
    written = 0
    store = cache()
    for model, key_of, field_name in (
        (VisitorRecommendations, visitor_key, "visitor_id"),
        (SimilarItems, item_key, "item_id"),
    ):
        batch: dict = {}
        rows = model.objects.filter(version_id=version_id).values_list(field_name, "items")
        for owner, items in rows.iterator(chunk_size=chunk):
            batch[key_of(owner)] = (version_id, items)
            if len(batch) >= chunk:
                store.set_many(batch, _ttl())
                written += len(batch)
                batch = {}
        if batch:
            store.set_many(batch, _ttl())
            written += len(batch)
    return written


def forget_visitor_lists(visitor_id) -> None:
    """After erasure or a consent withdrawal: the cached list goes with the rows."""
    cache().delete(visitor_key(visitor_id))
    VisitorRecommendations.objects.filter(visitor_id=visitor_id).delete()


# -- the request ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Business rules applied at serve time; editors set them on blocks, clients as params."""

    page_types: tuple[str, ...] = ()
    locale: str = ""
    site_id: int | None = None
    exclude: tuple[str, ...] = ()
    exclude_seen: bool | None = None  # None: PERSONALIZATION_RECOMMENDATIONS_EXCLUDE_SEEN
    diversity: float | None = None  # MMR lambda; None: the setting


def is_known_site(site_id: int, visitor: VisitorContext) -> bool:
    """Whether a site filter names a Wagtail site: read with the catalogue, so a warm request
    asks no table; a site created since the catalogue was loaded is found by one query."""
    if site_id in site_ids(visitor.versions[1] if visitor.versions else ""):
        return True
    from wagtail.models import Site

    return Site.objects.filter(pk=site_id).exists()


def request_site_id(request) -> int | None:
    """The Wagtail site serving this request (cached on the request by Wagtail), for templates
    and blocks: a page of one site never recommends another site's pages."""
    if request is None:
        return None
    from wagtail.models import Site

    site = Site.find_for_request(request)
    return site.pk if site is not None else None


@dataclass(frozen=True)
class Reason:
    code: str  # because_you_viewed | similar_to | popular_in_segment | popular | trending
    text: str
    item_id: str = ""


@dataclass(frozen=True)
class RecommendedItem:
    id: str
    title: str
    url: str
    score: float
    reason: Reason
    page_type: str = ""


@dataclass
class Recommendations:
    decision_id: uuid.UUID
    version_id: int | None
    source: str  # precomputed | on_the_fly | popular | none
    placement: str = ""
    items: list[RecommendedItem] = field(default_factory=list)

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(slots=True)
class _Candidate:
    item: str
    score: float
    reason_code: str
    reason_item: str = ""


def _start(found: dict, placement: str) -> tuple[int, Recommendations]:
    """The active version (cached, else read and cached; 0: none yet) and an empty answer."""
    active = found.get(ACTIVE_KEY)
    if active is None:
        active = active_version_id()
        set_active(active)
    return active, Recommendations(uuid.uuid4(), active or None, "none", placement[:80])


def _of_version(found: dict, key: str, active: int):
    """The list cached under ``key`` if it belongs to the active version, else None."""
    value = found.get(key)
    return value[1] if value is not None and value[0] == active else None


def _cached_or_db(found: dict, key: str, active: int, loader):
    items = _of_version(found, key, active)
    if items is not None:
        return items, False
    items = loader()
    if items is not None:
        cache().set(key, (active, items), _ttl())
    return items, True


def _visitor_list(visitor_id, active):
    return (
        VisitorRecommendations.objects.filter(version_id=active, visitor_id=visitor_id)
        .values_list("items", flat=True)
        .first()
    )


def _item_list(item_id, active):
    return (
        SimilarItems.objects.filter(version_id=active, item_id=item_id)
        .values_list("items", flat=True)
        .first()
    )


def _personalization_allowed(visitor: VisitorContext) -> bool:
    if visitor.visitor_id is None or visitor.preview:
        return False
    snapshot = visitor_snapshot(visitor.visitor_id)
    return effective_consent(snapshot.consent)["personalization"]


def _on_the_fly(visitor_id, active: int, now: datetime, budget_s: float, started: float):
    """Score a visitor from their recent items with the active model, within the budget.
    None when over budget or the visitor has no items: the caller falls back to popular."""
    items = recent_items(visitor_id, now=now, limit=get_setting("RECOMMENDATIONS_RECENT_ITEMS"))
    if not items or time.perf_counter() - started > budget_s:
        return None
    loaded = artefacts.loaded_model(active)
    if loaded is None or time.perf_counter() - started > budget_s:
        return None
    known = [(loaded.index[i], w) for i, w in items.items() if i in loaded.index]
    if not known:
        return None
    from scipy import sparse

    cols = np.array([c for c, _ in known])
    weights = np.array([w for _, w in known], dtype=np.float32)
    row = sparse.csr_matrix((weights, (np.zeros(len(cols)), cols)), shape=(1, len(loaded.items)))
    scores = np.asarray(loaded.model.score(row), dtype=np.float64)[0]
    n = get_setting("RECOMMENDATIONS_PRECOMPUTED")
    best = [b for b in top_n(scores, n, exclude=cols) if scores[b] > 0]
    reasons = loaded.model.explain(cols, weights, best)
    seen = [loaded.items[c] for c in cols]
    ranked = [
        [loaded.items[b], float(scores[b]), loaded.items[r] if r is not None else ""]
        for b, r in zip(best, reasons, strict=True)
    ]
    return ranked, seen


def cache_keys(visitor_id, context_item: str | None = None) -> list[str]:
    """The cache keys ``recommend`` reads: active version, popular lists, the visitor's list
    (without a visitor id: none) and the context item's neighbours."""
    keys = [ACTIVE_KEY, item_key(POPULAR_KEY)]
    if visitor_id is not None:
        keys.append(visitor_key(visitor_id))
    if context_item:
        keys.append(item_key(context_item))
    return keys


def reads_segments(found: dict) -> bool:
    """Whether ``recommend`` will read the visitor's segments, given what a read of
    ``cache_keys`` found. Segments only pick a segment's popular list, so they are not needed
    when the active version's popular lists are not split by segment (and the API then
    evaluates no rule); when the cache cannot tell, they are."""
    active = found.get(ACTIVE_KEY)
    popular = _of_version(found, item_key(POPULAR_KEY), active) if active else None
    return popular is None or any(group for group in popular)


def recommend(
    visitor: VisitorContext,
    *,
    limit: int = 6,
    context_item: str | None = None,
    placement: str = "",
    filters: Filters | None = None,
    now: datetime | None = None,
    record: bool = True,
    found: dict | None = None,
) -> Recommendations:
    """Recommendations for a visitor (and optionally the item they are looking at).

    On a warm cache: one round trip, no query (plus one INSERT for the impression when the
    visitor's consent lets us keep it). ``found`` is what a read of ``cache_keys`` for this
    visitor id (or for the id the visitor was resolved from) returned, when the caller read
    them with its own keys (the API, with versions and snapshot): no round trip of our own then.
    """
    filters = filters or Filters()
    now = now or visitor.now or timezone.now()
    started = time.perf_counter()
    vid = visitor.visitor_id if not visitor.preview else None
    if found is None:
        found = cache().get_many(cache_keys(vid, context_item))
    active, result = _start(found, placement)
    if not active:
        return result

    candidates: dict[str, _Candidate] = {}
    seen: list[str] = []
    source = "popular"
    if vid is not None:
        stored, missed = _cached_or_db(
            found, visitor_key(vid), active, lambda: _visitor_list(vid, active)
        )
        if stored is not None:
            source = "precomputed"
            _merge(candidates, stored, 1.0, "because_you_viewed")
        elif _personalization_allowed(visitor):
            budget = get_setting("RECOMMENDATIONS_TIME_BUDGET_MS") / 1000.0
            fly = _on_the_fly(vid, active, now, budget, started)
            if fly is not None:
                source = "on_the_fly"
                _merge(candidates, fly[0], 1.0, "because_you_viewed")
                seen = fly[1]
    if context_item:
        neighbours, _ = _cached_or_db(
            found, item_key(context_item), active, lambda: _item_list(context_item, active)
        )
        if neighbours:
            _merge(candidates, neighbours, 2.0, "similar_to", reason_item=context_item)
            if source == "popular":
                source = "similar"
    popular, _ = _cached_or_db(
        found, item_key(POPULAR_KEY), active, lambda: _item_list(POPULAR_KEY, active)
    )
    popular = popular or {}
    group = next((s for s in visitor.segments if s in popular), "")
    # Popularity fills the list (and is all a new visitor gets), a little below personal items.
    _merge(
        candidates,
        popular.get(group, popular.get("", [])),
        0.3,
        "popular_in_segment" if group else "popular",
    )

    items = catalogue(visitor.versions[1] if visitor.versions else "")
    result.source = source
    result.items = rerank(
        list(candidates.values()),
        items,
        limit=limit,
        filters=filters,
        exclude=set(seen) | ({context_item} if context_item else set()),
        now=now,
    )
    if record:
        record_impression(visitor, result)
    return result


def _merge(candidates, ranked, weight, code, *, reason_item=""):
    """Add a list (best first) to the candidates: scores normalised by the list's best."""
    if not ranked:
        return
    top = max(abs(float(entry[1])) for entry in ranked) or 1.0
    for entry in ranked:
        item, score = str(entry[0]), weight * float(entry[1]) / top
        why = entry[2] if len(entry) > 2 and entry[2] else reason_item
        current = candidates.get(item)
        if current is None:
            candidates[item] = _Candidate(
                item, score, code if why or code.startswith("popular") else "recommended", why
            )
        else:
            current.score += score
            if not current.reason_item and why:
                current.reason_item, current.reason_code = why, code


def _similarity(a: CatalogueItem, b: CatalogueItem) -> float:
    """Content similarity for diversity: Jaccard over tags, category and page type."""
    if not a.tag_bits or not b.tag_bits:
        return 0.0
    shared = (a.tag_bits & b.tag_bits).bit_count()  # |a | b| by counting, without the union
    return shared / (len(a.tags) + len(b.tags) - shared)


def _mmr(pool: list, limit: int, lam: float, top: float) -> list:
    """Pick ``limit`` entries of ``pool`` (best first) by maximal marginal relevance.

    Each entry's redundancy (its greatest similarity to what is already picked) is kept up to
    date with the latest pick only, instead of being recomputed against every pick for every
    entry: the same maxima over the same pages, so the same floats and the same picks, with
    one similarity per remaining entry and pick. With ``lam`` 1 redundancy weighs nothing
    and is not computed at all.
    """
    relevance = [lam * score / top for _, _, score in pool]
    redundancy = [0.0] * len(pool)
    pool, weight = list(pool), 1.0 - lam
    chosen: list = []
    while pool and len(chosen) < limit:
        best_i, best_value = 0, -math.inf
        for i, rel in enumerate(relevance):
            value = rel - weight * redundancy[i]
            if value > best_value + 1e-12:
                best_i, best_value = i, value
        picked = pool.pop(best_i)
        del relevance[best_i], redundancy[best_i]
        chosen.append(picked)
        if weight and picked[1].tag_bits and len(chosen) < limit:  # the last pick weighs nothing
            _raise_redundancy(redundancy, pool, picked[1])
    return chosen


def _raise_redundancy(redundancy: list[float], pool: list, picked: CatalogueItem) -> None:
    for i, (_, page, _) in enumerate(pool):
        similarity = _similarity(page, picked)
        if similarity > redundancy[i]:
            redundancy[i] = similarity


def _reason(candidate: _Candidate, items: dict[str, CatalogueItem]) -> Reason:
    source = items.get(candidate.reason_item)
    title = source.title if source else ""
    if candidate.reason_code == "because_you_viewed" and title:
        return Reason("because_you_viewed", f"Because you viewed “{title}”", source.id)
    if candidate.reason_code == "similar_to" and title:
        return Reason("similar_to", f"Similar to “{title}”", source.id)
    if candidate.reason_code == "popular_in_segment":
        return Reason("popular_in_segment", "Popular with visitors like you")
    if candidate.reason_code == "fresh":
        return Reason("fresh", "New")
    return Reason("popular", "Popular right now")


def rerank(
    candidates: list[_Candidate],
    items: dict[str, CatalogueItem],
    *,
    limit: int,
    filters: Filters,
    exclude: set[str],
    now: datetime,
) -> list[RecommendedItem]:
    """Filter (live pages in the catalogue, page types, locale, site, excluded ids), boost
    fresh pages, then pick by maximal marginal relevance:
    ``lambda * relevance - (1 - lambda) * max similarity to what is already picked``."""
    exclude_seen = (
        get_setting("RECOMMENDATIONS_EXCLUDE_SEEN")
        if filters.exclude_seen is None
        else filters.exclude_seen
    )
    banned = set(filters.exclude) | (exclude if exclude_seen else set())
    page_types = set(filters.page_types or get_setting("RECOMMENDATIONS_PAGE_TYPES"))
    boost = get_setting("RECOMMENDATIONS_FRESHNESS_BOOST")
    fresh_days = get_setting("RECOMMENDATIONS_FRESHNESS_DAYS")
    pool: list[tuple[_Candidate, CatalogueItem, float]] = []
    for candidate in candidates:
        page = items.get(candidate.item)
        if page is None or candidate.item in banned:
            continue
        if page_types and page.page_type not in page_types:
            continue
        if filters.locale and page.locale != filters.locale:
            continue
        if filters.site_id is not None and filters.site_id not in page.site_ids:
            continue
        score = candidate.score
        if boost and fresh_days and page.first_published_at is not None:
            age = (now - page.first_published_at).total_seconds() / 86400.0
            if 0 <= age < fresh_days:
                score += boost * (1.0 - age / fresh_days)
        pool.append((candidate, page, score))
    if not pool:
        return []
    lam = (
        get_setting("RECOMMENDATIONS_MMR_LAMBDA")
        if filters.diversity is None
        else filters.diversity
    )
    top = max(s for _, _, s in pool) or 1.0
    pool.sort(key=lambda entry: (-entry[2], entry[0].item))
    del pool[max(4 * limit, 20) :]  # MMR looks at the best candidates only: bounded work
    chosen = _mmr(pool, limit, lam, top)
    return [
        RecommendedItem(
            id=page.id,
            title=page.title,
            url=page.url,
            score=round(score, 5),
            reason=_reason(candidate, items),
            page_type=page.page_type,
        )
        for candidate, page, score in chosen
    ]


def similar_items(
    item_id: str,
    visitor: VisitorContext | None = None,
    *,
    limit: int = 4,
    placement: str = "",
    filters: Filters | None = None,
    record: bool = True,
) -> Recommendations:
    """ "More like this": the item's stored neighbours (collaborative where it has
    interactions, content-based where it is new), re-ranked like ``recommend``."""
    visitor = visitor or VisitorContext(visitor_id=None, segments=(), key="")
    filters = filters or Filters()
    key = item_key(str(item_id))
    found = cache().get_many([ACTIVE_KEY, key])
    active, result = _start(found, placement)
    if not active:
        return result
    neighbours, _ = _cached_or_db(found, key, active, lambda: _item_list(str(item_id), active))
    candidates: dict[str, _Candidate] = {}
    _merge(candidates, neighbours or [], 1.0, "similar_to", reason_item=str(item_id))
    result.source = "similar" if neighbours else "none"
    result.items = rerank(
        list(candidates.values()),
        catalogue(visitor.versions[1] if visitor.versions else ""),
        limit=limit,
        filters=replace(filters, exclude=(*filters.exclude, str(item_id))),
        exclude=set(),
        now=visitor.now or timezone.now(),
    )
    if record:
        record_impression(visitor, result)
    return result


IMPRESSION_BUFFER = "personalization:recs:impressions:buffer"
IMPRESSION_FLUSH_LOCK = "personalization:recs:impressions:flushing"


def record_impression(visitor: VisitorContext, result: Recommendations) -> bool:
    """Keep what was shown, when the visitor's consent lets us collect events: off the request
    path with Redis (one ``RPUSH``; ``flush_impressions`` writes them in bulk from beat), else
    one INSERT."""
    if (
        not result.items
        or visitor.visitor_id is None
        or not visitor.collects_events
        or visitor.preview
    ):
        return False
    row = {
        "decision_id": str(result.decision_id),
        "visitor_id": str(visitor.visitor_id),
        "placement": result.placement,
        "version_id": result.version_id,
        "source": result.source,
        "items": [item.id for item in result.items],
        "created_at": visitor.now.isoformat(),
    }
    # Buffered only where a broker runs the beat task that drains the buffer; with no buffer,
    # or Redis failing, written directly (the durable path).
    if not (broker_configured() and push_rows(IMPRESSION_BUFFER, [row], _insert_impressions)):
        _insert_impressions([row])
    return True


def flush_impressions(*, limit: int = 5000) -> int:
    """Write buffered impressions (one writer at a time; a retry duplicates nothing), dropping
    visitors who withdrew consent or were erased while theirs waited. Returns rows written."""

    def write(rows: list[dict]) -> int:
        allowed = {str(v) for v in visitors_collecting_events({r["visitor_id"] for r in rows})}
        return _insert_impressions(
            [r for r in rows if r["visitor_id"] in allowed], check_versions=True
        )

    return drain_list(IMPRESSION_BUFFER, IMPRESSION_FLUSH_LOCK, write, limit=limit)


def _insert_impressions(rows: list[dict], *, check_versions: bool = False) -> int:
    known = None
    if check_versions:  # a version may have been deleted while its impressions waited
        ids = {r["version_id"] for r in rows if r["version_id"]}
        known = set(RecommenderVersion.objects.filter(pk__in=ids).values_list("pk", flat=True))
    RecommendationImpression.objects.bulk_create(
        [
            RecommendationImpression(
                decision_id=r["decision_id"],
                visitor_id=r["visitor_id"],
                placement=r["placement"],
                version_id=r["version_id"] if known is None or r["version_id"] in known else None,
                source=r["source"],
                items=r["items"],
                created_at=datetime.fromisoformat(r["created_at"]),
            )
            for r in rows
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    return len(rows)
