"""Training: snapshot the interactions, evaluate offline, fit, store a versioned artefact,
precompute top-N lists, activate. Runs in a Celery worker (or a management command); serving
keeps using the previously active version until the new one is activated.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone
from scipy import sparse

from ..conf import get_setting
from ..consent.models import ConsentRecord
from ..consent.services import effective_consent
from ..events.models import Event
from ..segments.models import Segment, SegmentMembership
from . import artefacts
from .algorithms import RECOMMENDERS, Popularity, Recommender, build, top_n
from .catalogue import load_catalogue, page_texts
from .evaluation import Split, evaluate, random_split, time_split
from .interactions import InteractionData, collect
from .models import RecommenderVersion, SimilarItems, VisitorRecommendations
from .serving import POPULAR_KEY, cache_lists, set_active

logger = logging.getLogger(__name__)

EVAL_K = 10
TRENDING_DAYS = 7


class TrainingError(Exception):
    pass


def _progress(version: RecommenderVersion, percent: int, note: str) -> None:
    version.progress, version.progress_note = percent, note[:200]
    RecommenderVersion.objects.filter(pk=version.pk).update(progress=percent, progress_note=note)


def personalization_allowed(visitor_ids) -> set[uuid.UUID]:
    """Of these visitors, those whose explicit answers (or the defaults) allow personalization."""
    answers: dict[uuid.UUID, dict[str, bool]] = {v: {} for v in visitor_ids}
    ids = list(answers)
    for start in range(0, len(ids), 5000):
        for visitor_id, purpose, granted in ConsentRecord.objects.filter(
            visitor_id__in=ids[start : start + 5000]
        ).values_list("visitor_id", "purpose", "granted"):
            answers[visitor_id][purpose] = granted
    return {v for v, explicit in answers.items() if effective_consent(explicit)["personalization"]}


def _with_catalogue(data: InteractionData) -> InteractionData:
    """Live pages nobody has interacted with yet become (empty) columns: content-based and
    hybrid models can recommend them from the first day."""
    known = set(data.items)
    extra = sorted(i for i in load_catalogue() if i not in known)
    if extra:
        data.items = data.items + extra
    return data


def _segment_groups(data: InteractionData, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    index = data.visitor_index()
    groups: dict[str, list[int]] = {}
    memberships = SegmentMembership.objects.filter(
        segment__status=Segment.Status.ENABLED
    ).values_list("segment__slug", "visitor_id")
    for slug, visitor_id in memberships.iterator(chunk_size=5000):
        i = index.get(visitor_id)
        if i is not None and (rows is None or rows[i]):
            groups.setdefault(slug, []).append(i)
    return {slug: np.array(members) for slug, members in groups.items()}


def _fit_context(data: InteractionData, X, *, now: datetime, texts: list[str]) -> dict[str, Any]:
    recent_since = (now - timedelta(days=TRENDING_DAYS)).timestamp()
    recent_mask = data.timestamps >= recent_since
    recent = sparse.csr_matrix(
        (data.weights[recent_mask], (data.rows[recent_mask], data.cols[recent_mask])),
        shape=data.shape,
    )
    trending = recent if recent.nnz else None
    return {"texts": texts, "recent": trending, "groups": _segment_groups(data)}


def _evaluate(
    algorithm: str, params: dict, data: InteractionData, texts: list[str], *, seed: int = 0
) -> dict[str, Any]:
    """Metrics on a time split and a random split, for the model and the popularity floor."""
    splits: list[Split] = [
        time_split(data.rows, data.cols, data.weights, data.timestamps, data.shape),
        random_split(data.rows, data.cols, data.weights, data.shape, seed=seed),
    ]
    metrics: dict[str, Any] = {"k": EVAL_K}
    for split in splits:
        if not split.test:
            continue
        for name, model in ((algorithm, build(algorithm, params)), ("popularity", Popularity())):
            started = time.perf_counter()
            model.fit(split.train, texts=texts)
            result = evaluate(model, split, k=EVAL_K, fit_seconds=time.perf_counter() - started)
            key = "model" if name == algorithm else "popularity"
            metrics.setdefault(split.kind, {})[key] = result.as_dict()
    return metrics


def train(
    algorithm: str | None = None,
    params: dict | None = None,
    *,
    now: datetime | None = None,
    window_days: float | None = -1,
    activate: bool = True,
    evaluate_model: bool = True,
    version: RecommenderVersion | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> RecommenderVersion:
    """Train one model version end to end. Failures mark the version failed (and re-raise);
    the active version keeps serving either way."""
    algorithm = algorithm or get_setting("RECOMMENDER")
    params = dict(get_setting("RECOMMENDER_PARAMS") if params is None else params)
    if algorithm not in RECOMMENDERS:
        raise TrainingError(f"Unknown recommender '{algorithm}'.")
    now = now or timezone.now()
    if window_days == -1:
        window_days = get_setting("INTERACTION_WINDOW_DAYS")
    if version is None:
        version = RecommenderVersion.objects.create(algorithm=algorithm, params=params)

    def step(percent: int, note: str) -> None:
        _progress(version, percent, note)
        if progress:
            progress(percent, note)

    try:
        step(5, "Reading interactions")
        data = collect(
            now=now,
            window_days=window_days,
            half_life_days=get_setting("INTERACTION_HALF_LIFE_DAYS"),
            min_item_support=get_setting("MIN_ITEM_SUPPORT"),
            min_visitor_interactions=get_setting("MIN_VISITOR_INTERACTIONS"),
        )
        n_cells = len(data.weights)
        data = _with_catalogue(data)
        if not data.items:
            raise TrainingError("No interactions and no live pages: nothing to train on.")
        step(15, f"{len(data.visitors)} visitors, {len(data.items)} items, {n_cells} cells")
        needs_text = algorithm in {"content", "hybrid"}
        texts = page_texts(data.items) if needs_text else []
        metrics: dict[str, Any] = {}
        if evaluate_model and n_cells:
            step(25, "Offline evaluation")
            metrics = _evaluate(algorithm, params, data, texts)
        step(55, "Fitting on all data")
        X = data.matrix()
        started = time.perf_counter()
        model = build(algorithm, params).fit(X, **_fit_context(data, X, now=now, texts=texts))
        metrics["fit_seconds"] = round(time.perf_counter() - started, 3)
        step(70, "Storing the artefact")
        blob = artefacts.dumps(model, data.items)
        RecommenderVersion.objects.filter(pk=version.pk).update(
            artefact=blob,
            data_start=data.start,
            data_end=data.end,
            n_visitors=len(data.visitors),
            n_items=len(data.items),
            n_interactions=n_cells,
            metrics=metrics,
        )
        step(75, "Precomputing lists")
        loaded = artefacts.LoadedModel(
            version.pk, model, data.items, {item: i for i, item in enumerate(data.items)}
        )
        precompute(version, loaded, data, X, now=now)
        RecommenderVersion.objects.filter(pk=version.pk).update(
            status=RecommenderVersion.Status.READY, trained_at=timezone.now()
        )
        step(100, "Ready")
    except Exception as exc:
        RecommenderVersion.objects.filter(pk=version.pk).update(
            status=RecommenderVersion.Status.FAILED,
            error="".join(traceback.format_exception_only(exc))[:2000],
        )
        raise
    version.refresh_from_db()
    if activate:
        activate_version(version.pk)
        version.refresh_from_db()
    return version


def _lists_for_rows(model: Recommender, X, rows: list[int], items: list[str], n: int) -> list[list]:
    out = []
    scores = np.asarray(model.score(X[rows]), dtype=np.float64)
    for j, r in enumerate(rows):
        seen, weights = X[r].indices, X[r].data
        best = top_n(scores[j], n, exclude=seen)
        best = [b for b in best if scores[j, b] > 0]
        reasons = model.explain(seen, weights, best)
        out.append(
            [
                [items[b], round(float(scores[j, b]), 5), items[why] if why is not None else ""]
                for b, why in zip(best, reasons, strict=True)
            ]
        )
    return out


def precompute(
    version: RecommenderVersion,
    loaded: artefacts.LoadedModel,
    data: InteractionData,
    X,
    *,
    now: datetime,
    batch: int = 512,
) -> dict[str, int]:
    """Top-N per active visitor who allows personalization, neighbours per item, popular lists
    (global and per segment): to the database, then to the cache."""
    n = get_setting("RECOMMENDATIONS_PRECOMPUTED")
    model, items = loaded.model, loaded.items
    active_since = (now - timedelta(days=get_setting("RECOMMENDATIONS_ACTIVE_DAYS"))).timestamp()
    last_seen = np.zeros(len(data.visitors))
    np.maximum.at(last_seen, data.rows, data.timestamps)
    recent = [data.visitors[i] for i in np.flatnonzero(last_seen >= active_since)]
    allowed = personalization_allowed(recent)
    index = data.visitor_index()
    rows = sorted(index[v] for v in allowed)
    visitor_lists: dict[uuid.UUID, list] = {}
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        for r, lst in zip(chunk, _lists_for_rows(model, X, chunk, items, n), strict=True):
            visitor_lists[data.visitors[r]] = lst
    similar: dict[str, list] = {}
    for i, item in enumerate(items):
        found = model.similar(i, n)
        if found:
            similar[item] = [[items[j], round(s, 5)] for j, s in found]
    popular = popular_lists(model, data, items, n)
    with transaction.atomic():
        VisitorRecommendations.objects.bulk_create(
            [
                VisitorRecommendations(version=version, visitor_id=v, items=lst)
                for v, lst in visitor_lists.items()
            ],
            batch_size=1000,
        )
        SimilarItems.objects.bulk_create(
            [SimilarItems(version=version, item_id=i, items=lst) for i, lst in similar.items()],
            batch_size=1000,
        )
        SimilarItems.objects.create(version=version, item_id=POPULAR_KEY, items=popular)
    return {"visitors": len(visitor_lists), "items": len(similar)}


def popular_lists(model: Recommender, data: InteractionData, items: list[str], n: int) -> dict:
    """{"": global, "<segment slug>": ...}: the cold-start lists, from the model's popularity
    component when it has one, else counted from the training data."""
    part = model if isinstance(model, Popularity) else getattr(model, "parts", {}).get("popularity")
    if not isinstance(part, Popularity):
        part = Popularity().fit(data.matrix(), groups=_segment_groups(data))
    lists = {"": part.counts}
    lists.update(part.groups)
    return {
        group: [[items[i], float(counts[i])] for i in top_n(counts, n) if counts[i] > 0]
        for group, counts in lists.items()
    }


def activate_version(version_id: int) -> RecommenderVersion:
    """Serve this (ready) version from now on; the previous one stays for rollback."""
    with transaction.atomic():
        version = RecommenderVersion.objects.select_for_update().get(pk=version_id)
        if version.status != RecommenderVersion.Status.READY:
            raise TrainingError(f"Version {version_id} is {version.status}, not ready.")
        RecommenderVersion.objects.filter(is_active=True).exclude(pk=version_id).update(
            is_active=False
        )
        version.is_active, version.activated_at = True, timezone.now()
        version.save(update_fields=["is_active", "activated_at"])
    # Now (readers in this transaction, tests) and again after commit (other processes).
    set_active(version_id)
    cache_lists(version_id)
    transaction.on_commit(lambda: set_active(version_id))
    return version


def rollback() -> RecommenderVersion:
    """Activate the ready version activated before the current one."""
    current = RecommenderVersion.objects.filter(is_active=True).first()
    previous = RecommenderVersion.objects.filter(
        status=RecommenderVersion.Status.READY, activated_at__isnull=False
    )
    if current is not None:
        previous = previous.exclude(pk=current.pk).filter(pk__lt=current.pk)
    target = previous.order_by("-activated_at", "-pk").first()
    if target is None:
        raise TrainingError("No earlier version to roll back to.")
    return activate_version(target.pk)


def new_events_since_training(*, now: datetime | None = None) -> int:
    active = RecommenderVersion.objects.filter(is_active=True).first()
    since = active.data_end if active and active.data_end else None
    events = Event.objects.filter(type__in=list(get_setting("INTERACTION_WEIGHTS")))
    if since is not None:
        events = events.filter(received_at__gt=since)
    return events.count()


def train_if_enough_new_events(*, now: datetime | None = None) -> RecommenderVersion | None:
    """Retrain when ``RETRAIN_AFTER_EVENTS`` weighted events arrived since the active model's
    data window ended (or there is no model yet and there are events)."""
    now = now or timezone.now()
    if RecommenderVersion.objects.filter(
        status=RecommenderVersion.Status.TRAINING, created_at__gte=now - timedelta(hours=2)
    ).exists():
        return None  # one training at a time (a crashed one stops counting after two hours)
    count = new_events_since_training(now=now)
    has_model = RecommenderVersion.objects.filter(is_active=True).exists()
    if count < get_setting("RETRAIN_AFTER_EVENTS") and (has_model or not count):
        return None
    return train(now=now)


def store_external_model(
    model: Recommender, items: list[str], *, now: datetime, activate: bool = True
) -> RecommenderVersion:
    """A model trained elsewhere (its items in ``items`` order) becomes a version: its item
    space is aligned with today's interactions, lists are precomputed, then it may serve."""
    version = RecommenderVersion.objects.create(
        algorithm=model.name, params=model.params, progress_note="Loaded from outside"
    )
    data = collect(
        now=now,
        window_days=get_setting("INTERACTION_WINDOW_DAYS"),
        half_life_days=get_setting("INTERACTION_HALF_LIFE_DAYS"),
    )
    # Columns follow the model's items; interactions with unknown items are dropped.
    index = {item: i for i, item in enumerate(items)}
    keep = np.array([data.items[c] in index for c in data.cols], dtype=bool)
    cols = np.array([index[data.items[c]] for c in data.cols[keep]], dtype=np.int64)
    data.rows, data.weights, data.timestamps = (
        data.rows[keep],
        data.weights[keep],
        data.timestamps[keep],
    )
    data.cols, data.items = cols, list(items)
    X = data.matrix()
    RecommenderVersion.objects.filter(pk=version.pk).update(
        artefact=artefacts.dumps(model, items),
        data_start=data.start,
        data_end=data.end,
        n_visitors=len(data.visitors),
        n_items=len(items),
        n_interactions=int(keep.sum()),
        metrics={"note": "trained outside; not evaluated here"},
    )
    loaded = artefacts.LoadedModel(version.pk, model, items, index)
    precompute(version, loaded, data, X, now=now)
    RecommenderVersion.objects.filter(pk=version.pk).update(
        status=RecommenderVersion.Status.READY, trained_at=timezone.now(), progress=100
    )
    if activate:
        activate_version(version.pk)
    version.refresh_from_db()
    return version
