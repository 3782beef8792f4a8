"""Training: personas by clustering, predictive scores by classification. Plain functions over
feature matrices (``fit_*``) and the database-facing runs that build those matrices and store a
``ModelVersion`` (``train_personas``, ``train_score``).

Nothing here runs in a request: the Celery task and ``manage.py train_models`` call
``train_models``; serving reads the stored results (see ``services``).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    davies_bouldin_score,
    roc_auc_score,
    silhouette_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler, StandardScaler

from ..conf import get_setting
from ..profiles.buckets import day_start
from .describe import describe_centroid
from .features import (
    FeatureSpec,
    SeriesIndex,
    active_before,
    compute_features,
    discover_spec,
    goal_labels,
    horizon_start,
    iter_feature_chunks,
    scoring_moment,
)
from .models import ModelVersion, Persona

Progress = Callable[[str, int, int], None]
ACTIVE_COLUMN = "days_since_active"


class TrainingError(Exception):
    """The data cannot support this model (too few visitors, one outcome only...)."""


# -- personas: plain functions ----------------------------------------------------------------


@dataclass
class PersonaFit:
    preprocess: Pipeline  # imputer, scaler (and PCA): raw features -> model space
    centroids: np.ndarray  # in model space
    labels: np.ndarray  # cluster of each training row (-1: noise, DBSCAN only)
    k: int
    per_k: list[dict[str, float]]
    algorithm: str
    feature_names: list[str]
    raw_centroids: list[dict[str, float]] = field(default_factory=list)
    z_centroids: list[dict[str, float]] = field(default_factory=list)

    def assign(self, raw: np.ndarray) -> np.ndarray:
        """The nearest centroid of each row: how serving assigns between retrains."""
        return nearest(self.preprocess.transform(raw), self.centroids)


def _preprocess(scaler: str, pca: float | int | None, random_state: int) -> Pipeline:
    steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", RobustScaler() if scaler == "robust" else StandardScaler()),
    ]
    if pca:
        steps.append(("pca", PCA(n_components=pca, random_state=random_state)))
    return Pipeline(steps)


def fit_personas(
    raw: np.ndarray,
    feature_names: list[str],
    *,
    k_range: tuple[int, int] = (2, 8),
    algorithm: str = "minibatch_kmeans",
    scaler: str = "standard",
    pca: float | int | None = None,
    sample_size: int = 5000,
    selection_size: int = 100_000,
    random_state: int = 0,
    progress: Progress | None = None,
) -> PersonaFit:
    """Cluster visitors, choosing k over ``k_range`` by silhouette (on a sample) and reporting the
    Davies-Bouldin index for each k too. Highest silhouette wins; ties go to the smaller k.

    With more than ``selection_size`` rows, k is chosen on a random subset of that size and the
    chosen k is then fitted on every row (one full fit instead of one per k)."""
    n = raw.shape[0]
    if n < max(10, k_range[0] * 2):
        raise TrainingError(f"Too few active visitors to cluster ({n}).")
    rng = np.random.default_rng(random_state)
    preprocess = _preprocess(scaler, pca, random_state)
    full_space = preprocess.fit_transform(raw)
    subset = n > selection_size
    space = full_space
    if subset:
        space = full_space[np.sort(rng.choice(n, size=selection_size, replace=False))]
    sample = rng.choice(len(space), size=min(len(space), sample_size), replace=False)
    sample.sort()
    low, high = k_range[0], min(k_range[1], len(sample) - 1)
    per_k: list[dict[str, float]] = []
    best: tuple[float, int, np.ndarray, np.ndarray] | None = None
    ks = list(range(low, high + 1)) if algorithm != "dbscan" else [0]
    for step, k in enumerate(ks):
        if progress:
            progress("clustering", step, len(ks))
        # k-means proper on the (bounded) selection set: MiniBatchKMeans's noisier optima make
        # the silhouette curve jumpy, and the choice of k rests on it.
        scan = "kmeans" if algorithm == "minibatch_kmeans" else algorithm
        labels, centroids = _cluster(space, sample, k, scan, random_state)
        sample_labels = labels[sample]
        found = len(set(sample_labels.tolist()) - {-1})
        if found < 2:
            per_k.append({"k": k or found, "silhouette": None, "davies_bouldin": None})
            continue
        keep = sample_labels >= 0
        sil = float(silhouette_score(space[sample][keep], sample_labels[keep], random_state=0))
        dbi = float(davies_bouldin_score(space[sample][keep], sample_labels[keep]))
        per_k.append(
            {"k": k or found, "silhouette": round(sil, 4), "davies_bouldin": round(dbi, 4)}
        )
        if best is None or sil > best[0] + 1e-9:
            best = (sil, k or found, labels, centroids)
    if best is None:
        raise TrainingError("No clustering with at least two clusters was found.")
    _sil, k, labels, centroids = best
    if subset:
        if progress:
            progress("clustering", len(ks), len(ks))
        if algorithm in {"kmeans", "minibatch_kmeans"}:
            # Every row, starting from the chosen centroids (one initialisation).
            cls = KMeans if algorithm == "kmeans" else MiniBatchKMeans
            extra = {} if algorithm == "kmeans" else {"batch_size": 4096, "max_iter": 20}
            model = cls(n_clusters=k, init=centroids, n_init=1, random_state=random_state, **extra)
            model.fit(full_space)
            labels, centroids = model.labels_, model.cluster_centers_
        else:
            labels = nearest(full_space, centroids)
    fit = PersonaFit(preprocess, centroids, labels, k, per_k, algorithm, list(feature_names))
    scale = preprocess.named_steps["scale"]
    imputed = preprocess.named_steps["impute"].transform(raw)
    z = scale.transform(imputed)
    for cluster in range(len(centroids)):
        members = labels == cluster
        fit.raw_centroids.append(
            dict(zip(feature_names, imputed[members].mean(axis=0).tolist(), strict=False))
        )
        fit.z_centroids.append(
            dict(zip(feature_names, z[members].mean(axis=0).tolist(), strict=False))
        )
    return fit


def _cluster(
    space: np.ndarray, sample: np.ndarray, k: int, algorithm: str, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """Labels for every row and centroids in model space. Sample-based algorithms (agglomerative,
    DBSCAN) fit the sample, then every row goes to the nearest centroid of what they found."""
    if algorithm == "kmeans":
        model = KMeans(n_clusters=k, n_init=4, random_state=random_state).fit(space)
        return model.labels_, model.cluster_centers_
    if algorithm == "minibatch_kmeans":
        model = MiniBatchKMeans(
            n_clusters=k, n_init=3, batch_size=4096, max_iter=20, random_state=random_state
        ).fit(space)
        return model.labels_, model.cluster_centers_
    if algorithm == "agglomerative":
        fitted = AgglomerativeClustering(n_clusters=k, linkage="ward").fit(space[sample])
    elif algorithm == "dbscan":
        fitted = DBSCAN(eps=1.5, min_samples=10).fit(space[sample])
    else:
        raise TrainingError(f"Unknown clustering algorithm '{algorithm}'.")
    found = sorted(set(fitted.labels_.tolist()) - {-1})
    if not found:
        return np.full(len(space), -1), np.zeros((0, space.shape[1]))
    centroids = np.vstack([space[sample][fitted.labels_ == c].mean(axis=0) for c in found])
    return nearest(space, centroids), centroids


def nearest(space: np.ndarray, centroids: np.ndarray, chunk: int = 50_000) -> np.ndarray:
    """The index of each row's nearest centroid, 50,000 rows at a time (bounded memory)."""
    out = np.empty(len(space), dtype=np.int64)
    for start in range(0, len(space), chunk):
        part = space[start : start + chunk]
        d = ((part[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
        out[start : start + chunk] = d.argmin(axis=1)
    return out


def match_personas(
    new_centroids: list[dict[str, float]],
    old_centroids: list[dict[str, float]],
    *,
    means: dict[str, float],
    scales: dict[str, float],
    threshold: float,
) -> tuple[dict[int, int], np.ndarray]:
    """Pair new clusters with old personas (Hungarian assignment on centroid distance).

    Both sets of centroids are standardised with the new model's means and scales, over the new
    model's features (a feature the old model lacked counts as average for it). The distance is
    the root mean square difference in standard deviations. Pairs farther apart than
    ``threshold`` are not matched (and cannot sway the assignment of the others): the new cluster
    becomes a new persona, the old one retires.
    Returns {new index: old index} and the distance matrix.
    """
    names = list(means)
    if not new_centroids or not old_centroids:
        return {}, np.zeros((len(new_centroids), len(old_centroids)))

    def z(centroid: dict[str, float]) -> np.ndarray:
        return np.array(
            [(centroid.get(f, means[f]) - means[f]) / (scales[f] or 1.0) for f in names]
        )

    a = np.vstack([z(c) for c in new_centroids])
    b = np.vstack([z(c) for c in old_centroids])
    dist = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).mean(axis=2))
    # Pairs beyond the threshold all cost the same: a far outlier cannot pull the assignment
    # away from a close pair to lower the total.
    rows, cols = linear_sum_assignment(np.where(dist <= threshold, dist, 1e6))
    return {
        int(r): int(c) for r, c in zip(rows, cols, strict=False) if dist[r, c] <= threshold
    }, dist


# -- predictive scores: plain functions -------------------------------------------------------


@dataclass
class ScoreFit:
    model: Pipeline
    feature_names: list[str]
    metrics: dict[str, Any]


def _classifier(kind: str, random_state: int) -> Pipeline:
    if kind == "gradient_boosting":
        return Pipeline(
            [("model", HistGradientBoostingClassifier(max_iter=200, random_state=random_state))]
        )
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=2000, C=1.0)),
        ]
    )


def _evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "pr_auc": round(float(average_precision_score(y, p)), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
    }


def fit_score(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    feature_names: list[str],
    *,
    model: str = "logistic",
    baseline_columns: tuple[int, ...] = (),
    random_state: int = 0,
) -> ScoreFit:
    """Fit on the earlier cut-off, measure on the later one (a time-based split), then refit on
    the later one for serving (the most recent behaviour; the reported metrics are the honest,
    out-of-time ones). The baseline is the same classifier on recency and frequency only."""
    for name, y in (("training", y_train), ("validation", y_valid)):
        if len(set(y.tolist())) < 2:
            raise TrainingError(f"The {name} window has only one outcome; need both.")
    fitted = _classifier(model, random_state).fit(x_train, y_train)
    p = fitted.predict_proba(x_valid)[:, 1]
    metrics: dict[str, Any] = _evaluate(y_valid, p)
    metrics.update(
        n_train=len(y_train),
        n_valid=len(y_valid),
        positive_rate_train=round(float(y_train.mean()), 4),
        positive_rate_valid=round(float(y_valid.mean()), 4),
    )
    if baseline_columns:
        base = _classifier("logistic", random_state).fit(x_train[:, baseline_columns], y_train)
        pb = base.predict_proba(x_valid[:, baseline_columns])[:, 1]
        metrics["baseline"] = {
            "features": [feature_names[i] for i in baseline_columns],
            **_evaluate(y_valid, pb),
        }
    rng = np.random.default_rng(random_state)
    rows = rng.choice(len(y_valid), size=min(len(y_valid), 20_000), replace=False)
    perm = permutation_importance(
        fitted,
        x_valid[rows],
        y_valid[rows],
        scoring="roc_auc",
        n_repeats=3,
        random_state=random_state,
    )
    importances = sorted(
        zip(feature_names, perm.importances_mean.tolist(), strict=False), key=lambda kv: -abs(kv[1])
    )
    metrics["permutation_importance"] = [
        {"feature": f, "importance": round(v, 4)} for f, v in importances[:15]
    ]
    if model != "gradient_boosting":
        coef = fitted.named_steps["model"].coef_[0]
        ranked = sorted(zip(feature_names, coef.tolist(), strict=False), key=lambda kv: -abs(kv[1]))
        metrics["coefficients"] = [{"feature": f, "weight": round(w, 4)} for f, w in ranked[:15]]
    serving = _classifier(model, random_state).fit(x_valid, y_valid)
    return ScoreFit(serving, list(feature_names), metrics)


def explain(model: Pipeline, feature_names: list[str], row: np.ndarray, top: int = 5) -> list:
    """The features that moved one visitor's score most: each linear term (weight x
    standardised value) of a logistic model, largest magnitude first. Empty for other models."""
    if "scale" not in model.named_steps:
        return []
    z = model.named_steps["scale"].transform(model.named_steps["impute"].transform(row))[0]
    coef = model.named_steps["model"].coef_[0]
    terms = sorted(
        zip(feature_names, (coef * z).tolist(), row[0].tolist(), strict=False),
        key=lambda t: -abs(t[1]),
    )
    return [
        {"feature": f, "contribution": round(c, 3), "value": None if v != v else round(v, 3)}
        for f, c, v in terms[:top]
    ]


# -- database-facing runs ---------------------------------------------------------------------


def _next_version(name: str) -> int:
    return (ModelVersion.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0) + 1


def _start(kind: str, name: str, params: dict, actor: str) -> ModelVersion:
    with transaction.atomic():
        return ModelVersion.objects.create(
            kind=kind, name=name, version=_next_version(name), params=params, trained_by=actor
        )


def _reporter(version: ModelVersion) -> Progress:
    def report(step: str, done: int, total: int) -> None:
        version.progress = {"step": step, "done": done, "total": total}
        ModelVersion.objects.filter(pk=version.pk).update(progress=version.progress)

    return report


def _finish(version: ModelVersion, artefact: dict, metrics: dict, spec: FeatureSpec) -> None:
    version.artefact = pickle.dumps(artefact, protocol=pickle.HIGHEST_PROTOCOL)
    version.metrics = metrics
    version.features = spec.as_dict()
    version.status = ModelVersion.Status.READY
    version.trained_at = timezone.now()
    version.progress = {"step": "done", "done": 1, "total": 1}
    version.save()


def _fail(version: ModelVersion, exc: Exception) -> None:
    version.status = ModelVersion.Status.FAILED
    version.error = str(exc)[:2000]
    version.progress = {"step": "failed", "done": 0, "total": 0}
    version.save(update_fields=["status", "error", "progress"])


def load_matrix(
    spec: FeatureSpec,
    moments: list[datetime],
    *,
    until: datetime,
    goals: list[tuple[str, int]] = (),
    progress: Progress | None = None,
    total: int | None = None,
) -> dict[str, Any]:
    """Features as of each moment (and goal labels after it) for every profile, chunk by chunk;
    only the matrices are kept, never the counter rows. Returns {"pks", "devices",
    "features": [per moment], "labels": [per moment][per goal]}."""
    extra = tuple(g for g, _days in goals if g != "*")
    index = SeriesIndex(spec, extra_types=extra)
    since = horizon_start(min(moments))
    pks, features, labels = [], [[] for _ in moments], [[[] for _ in goals] for _ in moments]
    active: list[list[np.ndarray]] = [[] for _ in moments]
    done = 0
    for chunk in iter_feature_chunks(spec, until=until, since=since, index=index):
        n = len(chunk.profile_ids)
        pks.append(chunk.profile_ids)
        for m, moment in enumerate(moments):
            x = compute_features(spec, index, n, chunk.arrays, moment, chunk.devices)
            features[m].append(x.astype(np.float32))
            active[m].append(active_before(n, chunk.arrays, moment))
            for g, (goal, days) in enumerate(goals):
                labels[m][g].append(goal_labels(index, n, chunk.arrays, moment, days, goal))
        done += n
        if progress:
            progress("features", done, total or done)
    width = len(spec.names())
    return {
        "pks": np.concatenate(pks) if pks else np.zeros(0, dtype=np.int64),
        "features": [np.vstack(f) if f else np.zeros((0, width)) for f in features],
        "labels": [[np.concatenate(g) if g else np.zeros(0) for g in m] for m in labels],
        "active": [np.concatenate(a) if a else np.zeros(0, dtype=bool) for a in active],
    }


def train_personas(
    *, now: datetime | None = None, actor: str = "", options: dict | None = None
) -> ModelVersion:
    from ..profiles.models import VisitorProfile

    now = now or timezone.now()
    params = {
        "k_range": list(get_setting("PERSONA_K_RANGE")),
        "algorithm": get_setting("PERSONA_ALGORITHM"),
        "scaler": get_setting("PERSONA_SCALER"),
        "pca": get_setting("PERSONA_PCA"),
        "sample_size": get_setting("PERSONA_SAMPLE_SIZE"),
        "selection_size": get_setting("PERSONA_SELECTION_SIZE"),
        "random_state": get_setting("SCORING_RANDOM_STATE"),
        **(options or {}),
    }
    version = _start(ModelVersion.Kind.PERSONAS, "personas", params, actor)
    report = _reporter(version)
    try:
        spec = persona_spec(discover_spec(include_device=True))
        as_of = scoring_moment(now)
        data = load_matrix(
            spec, [as_of], until=as_of, progress=report, total=VisitorProfile.objects.count()
        )
        names = spec.names()
        raw = data["features"][0].astype(np.float64)
        active = data["active"][0]
        fit = fit_personas(
            raw[active],
            names,
            k_range=tuple(params["k_range"]),
            algorithm=params["algorithm"],
            scaler=params["scaler"],
            pca=params["pca"],
            sample_size=params["sample_size"],
            selection_size=params["selection_size"],
            random_state=params["random_state"],
            progress=report,
        )
        report("matching", 0, 1)
        clusters = _match_to_current(fit)
        version.window_start, version.window_end = horizon_start(as_of), as_of
        metrics = {
            "k": fit.k,
            "per_k": fit.per_k,
            "algorithm": fit.algorithm,
            "n_profiles": int(active.sum()),
            "clusters": clusters,
        }
        artefact = {"preprocess": fit.preprocess, "centroids": fit.centroids}
        _finish(version, artefact, metrics, spec)
    except TrainingError as exc:
        _fail(version, exc)
    return version


PERSONA_ACTIVITY = ("log_events_90d", "purchases_365d", "device_mobile")


def persona_spec(spec: FeatureSpec) -> FeatureSpec:
    """Who visitors are rather than how much they did of each kind: interests (share of views
    per tag and category), overall activity, buying, and whether they are mobile. Per-type counts
    and rhythm columns would outnumber the interests and drown them (on the demo's archetypes the
    adjusted Rand index drops from 0.41 to 0.22 with every column; see docs/scoring.md)."""
    spec = replace(spec, event_types=(), include_device=True)
    interests = [n for n in spec.all_names() if n.startswith("share_")]
    return replace(spec, only=(*interests, *PERSONA_ACTIVITY))


def _match_to_current(fit: PersonaFit) -> list[dict[str, Any]]:
    """Each new cluster's persona key: inherited from the current persona it matches, or new."""
    current = list(Persona.objects.filter(retired_at=None).order_by("pk"))
    scale = fit.preprocess.named_steps["scale"]
    names = fit.feature_names
    if isinstance(scale, StandardScaler):
        means, scales = scale.mean_, scale.scale_
    else:
        means, scales = scale.center_, scale.scale_
    matched, dist = match_personas(
        fit.raw_centroids,
        [p.centroid for p in current],
        means=dict(zip(names, means.tolist(), strict=False)),
        scales=dict(zip(names, scales.tolist(), strict=False)),
        threshold=get_setting("PERSONA_MATCH_DISTANCE"),
    )
    taken = set(Persona.objects.values_list("key", flat=True))
    counter = len(taken)
    sizes = np.bincount(fit.labels[fit.labels >= 0], minlength=len(fit.centroids))
    clusters = []
    for cluster in range(len(fit.centroids)):
        if cluster in matched:
            old = current[matched[cluster]]
            key, distance = old.key, float(dist[cluster, matched[cluster]])
        else:
            counter += 1
            while f"persona-{counter}" in taken:
                counter += 1
            key, distance = f"persona-{counter}", None
            taken.add(key)
        clusters.append(
            {
                "cluster": cluster,
                "key": key,
                "inherited": cluster in matched,
                "distance": None if distance is None else round(distance, 4),
                "size": int(sizes[cluster]),
                "description": describe_centroid(fit.z_centroids[cluster]),
                "centroid": {k: round(v, 5) for k, v in fit.raw_centroids[cluster].items()},
            }
        )
    return clusters


def train_score(
    name: str, *, now: datetime | None = None, actor: str = "", options: dict | None = None
) -> ModelVersion:
    """A point-in-time classifier: features as of a cut-off, the outcome in the N days after.

    With N days, the training cut-off is 2N days before today and the validation cut-off N
    days before, so the training labels end where the validation ones begin.
    """
    from ..profiles.models import VisitorProfile

    now = now or timezone.now()
    config = {**get_setting("SCORES").get(name, {}), **(options or {})}
    if not config:
        raise TrainingError(f"No score named '{name}' in PERSONALIZATION_SCORES.")
    kind, days = config.get("kind", "conversion"), int(config.get("days", 7))
    goal = config.get("goal", "purchase") if kind == "conversion" else "*"
    params = {**config, "random_state": get_setting("SCORING_RANDOM_STATE")}
    version = _start(ModelVersion.Kind.SCORE, name, params, actor)
    report = _reporter(version)
    try:
        spec = discover_spec(include_device=False)
        today = day_start(now)
        valid_at, train_at = today - timedelta(days=days), today - timedelta(days=2 * days)
        data = load_matrix(
            spec,
            [train_at, valid_at],
            until=today,
            goals=[(goal, days)],
            progress=report,
            total=VisitorProfile.objects.count(),
        )
        names = spec.names()
        report("fitting", 0, 1)
        sets = []
        for m in range(2):
            x = data["features"][m].astype(np.float64)
            y = data["labels"][m][0].astype(int)
            recency = x[:, names.index(ACTIVE_COLUMN)]
            keep = data["active"][m].copy()
            if kind == "churn":
                keep &= recency <= 28
                y = 1 - y
            sets.append((x[keep], y[keep]))
        (x_train, y_train), (x_valid, y_valid) = sets
        baseline = (names.index(ACTIVE_COLUMN), names.index("log_events_90d"))
        fit = fit_score(
            x_train,
            y_train,
            x_valid,
            y_valid,
            names,
            model=config.get("model", "logistic"),
            baseline_columns=baseline,
            random_state=params["random_state"],
        )
        version.window_start, version.window_end = horizon_start(train_at), today
        fit.metrics.update(
            train_cutoff=train_at.isoformat(), valid_cutoff=valid_at.isoformat(), days=days
        )
        _finish(version, {"model": fit.model}, fit.metrics, spec)
    except TrainingError as exc:
        _fail(version, exc)
    return version
