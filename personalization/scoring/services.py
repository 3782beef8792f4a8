"""Serving and operating the models: activation and rollback, batch scoring, the real-time
assignment between retrains, and the training run the task and the command share.

Serving never trains: it reads the active versions' artefacts, unpickled once per process and
kept until the version token in the shared cache changes (an activation anywhere bumps it).
"""

from __future__ import annotations

import pickle
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from ..conf import get_setting
from ..profiles.models import VisitorProfile
from ..profiles.snapshot import ProfileSnapshot, build_snapshot
from ..signals import scores_applied
from ..visitor_cache import bump_generation, bump_version_token, cache, snapshot_key, version_tokens
from .describe import default_name
from .features import (
    FeatureSpec,
    SeriesIndex,
    active_before,
    compute_features,
    horizon_start,
    iter_feature_chunks,
    scoring_moment,
    snapshot_arrays,
)
from .models import ModelVersion, Persona
from .training import TrainingError, explain, nearest, train_personas, train_score

VERSION_KEY = "personalization:scoring:version"
LOADED_TTL = 300.0  # seconds; a safety net should the version key be evicted


@dataclass
class LoadedModel:
    version: ModelVersion
    spec: FeatureSpec
    artefact: dict[str, Any]
    names: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # personas: the key of each cluster


@dataclass
class ActiveModels:
    personas: LoadedModel | None
    scores: dict[str, LoadedModel]
    names: dict[str, str] = field(default_factory=dict)  # persona key -> name

    @property
    def empty(self) -> bool:
        return self.personas is None and not self.scores

    def all(self) -> list[LoadedModel]:
        return [m for m in [self.personas, *self.scores.values()] if m is not None]


def _load(version: ModelVersion) -> LoadedModel:
    # The artefact is written by our own training run into our own database.
    artefact = pickle.loads(bytes(version.artefact))  # noqa: S301
    spec = FeatureSpec.from_dict(version.features)
    keys = [c["key"] for c in version.metrics.get("clusters", [])]
    return LoadedModel(version, spec, artefact, spec.names(), keys)


_active: tuple[str, float, ActiveModels] | None = None


def active_models(token: str | None = None) -> ActiveModels:
    """The active persona model and scores: one cache read when this process holds them."""
    global _active
    token = version_tokens(VERSION_KEY)[0] if token is None else token
    if _active is not None and _active[0] == token and time.monotonic() - _active[1] < LOADED_TTL:
        return _active[2]
    personas, scores = None, {}
    for version in ModelVersion.objects.filter(
        is_active=True, status=ModelVersion.Status.READY
    ).order_by("name"):
        loaded = _load(version)
        if version.kind == ModelVersion.Kind.PERSONAS:
            personas = loaded
        else:
            scores[version.name] = loaded
    models = ActiveModels(personas, scores, dict(Persona.objects.values_list("key", "name")))
    _active = (token, time.monotonic(), models)
    return models


def bump_models() -> None:
    bump_version_token(VERSION_KEY)


# -- scoring rows -----------------------------------------------------------------------------


def _persona_keys(model: LoadedModel, x: np.ndarray) -> list[str]:
    closest = nearest(model.artefact["preprocess"].transform(x), model.artefact["centroids"])
    return [model.keys[i] for i in closest.tolist()]


def _scores(model: LoadedModel, x: np.ndarray) -> np.ndarray:
    p = model.artefact["model"].predict_proba(x)[:, 1]
    return np.rint(p * 100).astype(int)


def score_rows(
    models: ActiveModels, index: SeriesIndex, n: int, arrays, devices: list[str], as_of: datetime
) -> tuple[list[str], dict[str, np.ndarray], np.ndarray]:
    """Persona keys and 0-100 scores for a batch; ``active`` marks rows with any activity
    (the others get no persona and no scores)."""
    personas: list[str] = [""] * n
    scores: dict[str, np.ndarray] = {}
    active = active_before(n, arrays, as_of)
    rows = np.flatnonzero(active)
    if not len(rows):
        return personas, scores, active
    for model in models.all():
        x = compute_features(model.spec, index, n, arrays, as_of, devices)[rows]
        if model is models.personas:
            for i, key in zip(rows.tolist(), _persona_keys(model, x), strict=False):
                personas[i] = key
        else:
            full = np.zeros(n, dtype=int)
            full[rows] = _scores(model, x)
            scores[model.version.name] = full
    return personas, scores, active


def assess(
    snapshot: ProfileSnapshot, *, now: datetime | None = None, models: ActiveModels | None = None
) -> tuple[str, dict[str, int]] | None:
    """The persona key and scores the active models give this snapshot (no I/O beyond loading
    the models); None when there is nothing to judge."""
    models = models or active_models()
    if models.empty or not snapshot.exists:
        return None
    index = SeriesIndex(*[m.spec for m in models.all()])
    arrays = snapshot_arrays(snapshot, index)
    as_of = scoring_moment(now or timezone.now())
    personas, scores, active = score_rows(models, index, 1, arrays, [snapshot.device_type], as_of)
    if not active[0]:
        return None
    return personas[0], {name: int(values[0]) for name, values in scores.items()}


def _merged_scores(current: dict, fresh: dict[str, int], models: ActiveModels) -> dict:
    merged = {k: v for k, v in (current or {}).items() if k not in models.scores}
    merged.update(fresh)
    return merged


def assign_visitor(visitor_id: uuid.UUID, *, now: datetime | None = None) -> bool:
    """Between retrains: the nearest persona and fresh scores for one visitor, as their events
    are folded. One cache read when no model is active; else the snapshot build (three queries)
    and one UPDATE when something changed. Returns whether the profile changed."""
    if not get_setting("SCORING_REALTIME"):
        return False
    models = active_models()
    if models.empty:
        return False
    snapshot = build_snapshot(visitor_id)
    result = assess(snapshot, now=now, models=models)
    if result is None:
        return False
    persona, fresh = result
    persona = persona if models.personas is not None else snapshot.persona
    scores = _merged_scores(snapshot.predicted_scores, fresh, models)
    if persona == snapshot.persona and scores == snapshot.predicted_scores:
        return False
    VisitorProfile.objects.filter(visitor_id=snapshot.visitor_id).update(
        persona=persona, predicted_scores=scores
    )
    bump_generation(snapshot.visitor_id)
    transaction.on_commit(lambda: bump_generation(snapshot.visitor_id))
    return True


def apply_models(
    *, now: datetime | None = None, progress=None, chunk: int = 20_000
) -> dict[str, int]:
    """Batch scoring: every profile gets the active models' persona and scores, chunk by chunk
    (two reads per chunk, and a bulk update of the rows that changed, 1,000 per statement).
    Profiles without activity lose their persona. Sends ``scores_applied`` so segments on
    personas and scores are recomputed."""
    models = active_models()
    as_of = scoring_moment(now or timezone.now())
    specs = [m.spec for m in models.all()]
    index = SeriesIndex(*specs) if specs else None
    total = VisitorProfile.objects.count()
    seen = changed = 0
    spec = FeatureSpec((), (), (), include_device=True) if not specs else specs[0]
    for batch in iter_feature_chunks(
        spec,
        until=as_of,
        since=horizon_start(as_of),
        index=index,
        chunk=chunk,
        extra_fields=("persona", "predicted_scores"),
    ):
        n = len(batch.profile_ids)
        personas, scores, active = score_rows(
            models, index or SeriesIndex(spec), n, batch.arrays, batch.devices, as_of
        )
        updates = []
        for i, (pk, (old_persona, old_scores)) in enumerate(
            zip(batch.profile_ids.tolist(), batch.extra, strict=True)
        ):
            fresh = {name: int(values[i]) for name, values in scores.items() if active[i]}
            merged = _merged_scores(old_scores, fresh, models)
            persona = personas[i] if models.personas is not None else old_persona
            if merged != old_scores or persona != old_persona:
                updates.append(
                    (
                        VisitorProfile(pk=pk, persona=persona, predicted_scores=merged),
                        batch.visitor_ids[i],
                    )
                )
        if updates:
            with transaction.atomic():
                VisitorProfile.objects.bulk_update(
                    [u[0] for u in updates], ["persona", "predicted_scores"], batch_size=1000
                )
            # Cached snapshots of changed visitors are dropped; the next read rebuilds them.
            cache().delete_many([snapshot_key(u[1]) for u in updates])
        seen += n
        changed += len(updates)
        if progress:
            progress("scoring", seen, total)
    scores_applied.send(sender=ModelVersion, changed=changed)
    return {"profiles": seen, "changed": changed}


# -- activation -------------------------------------------------------------------------------


def activate(version: ModelVersion) -> ModelVersion:
    """Make ``version`` the one serving its name (rollback is activating an older one).

    For personas, the persona registry follows: the version's keys come back (names that
    editors changed are kept), the other keys retire. Profiles are rescored by ``apply_models``.
    """
    if version.status != ModelVersion.Status.READY:
        raise TrainingError("Only a trained (ready) version can be activated.")
    now = timezone.now()
    with transaction.atomic():
        ModelVersion.objects.filter(name=version.name, is_active=True).update(is_active=False)
        ModelVersion.objects.filter(pk=version.pk).update(is_active=True, activated_at=now)
        version.is_active, version.activated_at = True, now
        if version.kind == ModelVersion.Kind.PERSONAS:
            _sync_personas(version, now)
        bump_models()
    return version


def _sync_personas(version: ModelVersion, now: datetime) -> None:
    clusters = version.metrics.get("clusters", [])
    keys = [c["key"] for c in clusters]
    Persona.objects.exclude(key__in=keys).filter(retired_at=None).update(retired_at=now)
    existing = {p.key: p for p in Persona.objects.filter(key__in=keys)}
    for c in clusters:
        persona = existing.get(c["key"]) or Persona(key=c["key"])
        if not persona.name_edited:
            persona.name = default_name(c["description"])
        persona.description = c["description"][:300]
        persona.model, persona.cluster = version, c["cluster"]
        persona.centroid, persona.size, persona.retired_at = c["centroid"], c["size"], None
        persona.save()


def rename_persona(persona: Persona, name: str) -> Persona:
    """An editor's name survives retrains as long as the persona's cluster is matched."""
    persona.name, persona.name_edited = name.strip()[:120], True
    persona.save(update_fields=["name", "name_edited"])
    bump_models()  # every process picks up the new name with its next read of the models
    return persona


def persona_name(key: str) -> str:
    """The current name of a persona key (one cache read when the process holds the models)."""
    return active_models().names.get(key, "") if key else ""


def explain_visitor(snapshot: ProfileSnapshot, *, now: datetime | None = None) -> dict:
    """Each active score's top contributing features for one visitor (admin profile view)."""
    models = active_models()
    result = {}
    if not snapshot.exists:
        return result
    as_of = scoring_moment(now or timezone.now())
    for name, model in models.scores.items():
        index = SeriesIndex(model.spec)
        arrays = snapshot_arrays(snapshot, index)
        if not len(arrays.day):
            continue
        row = compute_features(model.spec, index, 1, arrays, as_of)
        result[name] = explain(model.artefact["model"], model.names, row)
    return result


# -- training runs ----------------------------------------------------------------------------


def train_models(
    names: list[str] | None = None,
    *,
    now: datetime | None = None,
    activate_new: bool | None = None,
    actor: str = "",
) -> list[ModelVersion]:
    """Train personas and every configured score (or the ``names`` given), activate what
    trained when ``SCORING_AUTO_ACTIVATE`` (or ``activate_new``) says so, then rescore."""
    wanted = names or ["personas", *get_setting("SCORES")]
    activate_new = get_setting("SCORING_AUTO_ACTIVATE") if activate_new is None else activate_new
    versions = []
    for name in wanted:
        if name == "personas":
            versions.append(train_personas(now=now, actor=actor))
        else:
            versions.append(train_score(name, now=now, actor=actor))
    ready = [v for v in versions if v.status == ModelVersion.Status.READY]
    if activate_new and ready:
        for version in ready:
            activate(version)
        apply_models(now=now)
    return versions
