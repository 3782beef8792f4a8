"""Factors from an off-box trainer (Spark ALS itemFactors as JSON lines) load and serve."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from personalization.recommendations.algorithms import ExternalFactors
from personalization.recommendations.models import RecommenderVersion

from .test_serving import get, reader

pytestmark = pytest.mark.django_db


def write_spark_dir(tmp_path, rows):
    """What ``model.itemFactors.write.json(path)`` leaves: part files of JSON lines."""
    out = tmp_path / "itemFactors"
    out.mkdir()
    half = len(rows) // 2
    for n, chunk in enumerate((rows[:half], rows[half:])):
        (out / f"part-0000{n}-abc.json").write_text("".join(json.dumps(r) + "\n" for r in chunk))
    (out / "_SUCCESS").write_text("")
    return out


def test_fold_in_is_ridge_least_squares():
    V = np.array([[1.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    model = ExternalFactors(l2=0.5).set_factors(V)
    x = np.array([[1.0, 0.0, 0.0]])
    # u = argmin ||x - u V||^2 + 0.5 ||u||^2, solved by hand: u = x V^T (V V^T + 0.5 I)^-1
    u = np.array([1.0, 0.0]) @ np.linalg.inv(np.array([[2.5, 0.0], [0.0, 4.5]]))
    assert np.allclose(model.score(x), u @ V, atol=1e-6)


def test_spark_item_factors_serve_like_a_trained_model(site, tmp_path, capsys):
    rows = [
        {"id": page.pk, "features": [1.0, 0.0] if topic == "python" else [0.0, 1.0]}
        for (topic, _), page in site["pages"].items()
    ]
    call_command("load_factors", str(write_spark_dir(tmp_path, rows)))
    version = RecommenderVersion.objects.get(is_active=True)
    assert version.algorithm == "factors" and version.n_items == 8
    assert "(active)" in capsys.readouterr().out
    vid = reader(site, "garden", [0])
    body = get(vid, limit=3, diversity=1).json()
    assert body["source"] == "on_the_fly" and body["model_version"] == version.pk
    titles = {item["title"] for item in body["items"]}
    assert titles == {"Tomato growing", "Garden soil", "Winter garden"}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": 1, "features": [0.1, 0.2]}', "{oops"], "line 2: not JSON"),
        (['{"id": 1, "features": [0.1, 0.2]}', '{"id": 2, "features": [0.1]}'], "rank 1"),
        (['{"id": 1, "features": [0.1, "x"]}'], "finite numbers"),
        (['{"id": 1, "features": [0.1, NaN]}'], "finite numbers"),
        (['{"id": 1}'], "id and features"),
        (['{"id": 1, "features": [1]}', '{"id": 1, "features": [2]}'], "duplicate"),
    ],
)
def test_bad_factor_files_are_named_and_nothing_is_loaded(site, tmp_path, lines, message):
    path = tmp_path / "factors.json"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CommandError, match=message):
        call_command("load_factors", str(path))
    assert not RecommenderVersion.objects.exists()
