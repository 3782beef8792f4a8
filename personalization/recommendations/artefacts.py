"""Model artefacts: a trained recommender's arrays and item ids as bytes (``numpy.savez``,
no pickle: loading an artefact never runs code), and a per-process cache of loaded models."""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from .algorithms import Recommender, build

_SPARSE = "__csr__"


def _flatten(state: dict[str, Any], prefix: str, out: dict[str, np.ndarray], layout: dict):
    for key, value in state.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            layout[key] = {}
            _flatten(value, f"{name}/", out, layout[key])
        elif sparse.issparse(value):
            value = sparse.csr_matrix(value)
            out[f"{name}.data"], out[f"{name}.indices"] = value.data, value.indices
            out[f"{name}.indptr"] = value.indptr
            out[f"{name}.shape"] = np.array(value.shape)
            layout[key] = _SPARSE
        else:
            out[name] = np.asarray(value)
            layout[key] = ""


def _unflatten(layout: dict, prefix: str, arrays) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for key, kind in layout.items():
        name = f"{prefix}{key}"
        if isinstance(kind, dict):
            state[key] = _unflatten(kind, f"{name}/", arrays)
        elif kind == _SPARSE:
            state[key] = sparse.csr_matrix(
                (arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"]),
                shape=tuple(arrays[f"{name}.shape"]),
            )
        else:
            state[key] = arrays[name]
    return state


def dumps(model: Recommender, items: list[str]) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    layout: dict = {}
    _flatten(model.state(), "", arrays, layout)
    meta = {"algorithm": model.name, "params": model.params, "items": items, "layout": layout}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


@dataclass
class LoadedModel:
    version_id: int
    model: Recommender
    items: list[str]
    index: dict[str, int]


def loads(data: bytes, version_id: int = 0) -> LoadedModel:
    with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as arrays:
        meta = json.loads(arrays["__meta__"].tobytes().decode())
        state = _unflatten(meta["layout"], "", arrays)
    model = build(meta["algorithm"], meta["params"])
    model.load_state(state)
    items = list(meta["items"])
    return LoadedModel(version_id, model, items, {item: i for i, item in enumerate(items)})


_lock = threading.Lock()
_models: dict[int, LoadedModel] = {}


def loaded_model(version_id: int) -> LoadedModel | None:
    """The model of a version, loaded once per process (only the latest one is kept)."""
    found = _models.get(version_id)
    if found is not None:
        return found
    from .models import RecommenderVersion

    data = (
        RecommenderVersion.objects.filter(pk=version_id, status="ready")
        .values_list("artefact", flat=True)
        .first()
    )
    if not data:
        return None
    model = loads(data, version_id)
    with _lock:
        _models.clear()
        _models[version_id] = model
    return model
