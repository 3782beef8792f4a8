"""Loading item factors trained off-box (the path when data outgrow one machine).

Spark MLlib's ``ALSModel.itemFactors`` is a DataFrame of ``id`` (int) and ``features``
(array<float>); ``model.itemFactors.write.json(path)`` writes it as JSON lines, one
``{"id": 42, "features": [0.1, ...]}`` per line, in ``part-*.json`` files under ``path``. This
module reads that (a file or such a directory), validates every line (a bad one is named by file
and line, nothing is stored), and stores the factors as a model version served like any other.
User factors are deliberately not read: visitors are folded in from their interactions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from django.utils import timezone

from .algorithms import ExternalFactors


class FactorsError(Exception):
    pass


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.startswith("part-"))
        if not files:
            raise FactorsError(f"{path}: no part-* files")
        return files
    if not path.exists():
        raise FactorsError(f"{path}: no such file or directory")
    return [path]


def read_spark_item_factors(path: str | Path) -> tuple[list[str], np.ndarray]:
    """(item ids, factors x items array) from Spark ALS ``itemFactors`` JSON lines."""
    ids: list[str] = []
    vectors: list[list[float]] = []
    rank = None
    for file in _files(Path(path)):
        with file.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{file.name} line {number}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise FactorsError(f"{where}: not JSON ({exc.msg})") from None
                if not isinstance(row, dict) or "id" not in row or "features" not in row:
                    raise FactorsError(f"{where}: expected an object with id and features")
                features = row["features"]
                if not isinstance(features, list) or not features:
                    raise FactorsError(f"{where}: features must be a non-empty list")
                if not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                    for v in features
                ):
                    raise FactorsError(f"{where}: features must be finite numbers")
                if rank is None:
                    rank = len(features)
                elif len(features) != rank:
                    raise FactorsError(f"{where}: rank {len(features)}, expected {rank}")
                item = str(row["id"])
                if not item or len(item) > 64:
                    raise FactorsError(f"{where}: id must be 1-64 characters")
                ids.append(item)
                vectors.append(features)
    if not ids:
        raise FactorsError(f"{path}: no factors")
    if len(set(ids)) != len(ids):
        raise FactorsError(f"{path}: duplicate item ids")
    return ids, np.asarray(vectors, dtype=np.float32).T


def load_factors(path: str | Path, *, l2: float = 0.1, activate: bool = True, now=None):
    """Store externally trained item factors as a new model version (lists precomputed)."""
    from .training import store_external_model

    ids, V = read_spark_item_factors(path)
    model = ExternalFactors(l2=l2).set_factors(V)
    return store_external_model(model, ids, now=now or timezone.now(), activate=activate)
