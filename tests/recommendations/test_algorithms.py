"""Recommenders against independent computations (ridge regressions, sklearn, numpy SVD)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics.pairwise import cosine_similarity

from personalization.recommendations import artefacts
from personalization.recommendations.algorithms import (
    EASE,
    ContentTFIDF,
    Hybrid,
    ItemKNN,
    Popularity,
    TruncatedSVDRecommender,
    build,
)


@pytest.fixture
def X():
    rng = np.random.default_rng(7)
    dense = (rng.random((40, 12)) < 0.3).astype(np.float32)
    dense[0, :] = 0
    dense[0, [1, 2]] = 1  # visitor 0 has two items
    return sparse.csr_matrix(dense)


def test_ease_equals_per_item_ridge_regressions(X):
    """EASE's closed form is, column by column, a ridge regression of the item on all other
    items (the zero-diagonal constraint): solve those directly and compare."""
    lam = 5.0
    model = EASE(l2=lam).fit(X)
    D = X.toarray().astype(np.float64)
    n = D.shape[1]
    for j in range(n):
        others = [i for i in range(n) if i != j]
        A = D[:, others]
        b = np.linalg.solve(A.T @ A + lam * np.eye(n - 1), A.T @ D[:, j])
        assert np.allclose(model.B[others, j], b, atol=1e-4)
        assert model.B[j, j] == 0
    assert np.allclose(model.score(X[:3]), D[:3] @ model.B, atol=1e-5)


def test_item_knn_is_cosine_with_top_k_neighbours(X):
    model = ItemKNN(k=3).fit(X)
    S = cosine_similarity(X.T.toarray())
    np.fill_diagonal(S, 0)
    for i in range(X.shape[1]):
        kept = model.S[i].toarray().ravel()
        expected_top = set(np.argsort(-S[i])[:3])
        assert set(np.flatnonzero(kept)) <= expected_top
        for j in np.flatnonzero(kept):
            assert kept[j] == pytest.approx(S[i, j], abs=1e-5)
    # score_i = sum_j x_j * S[i, j] over kept neighbours
    row = X[0].toarray().ravel()
    assert np.allclose(model.score(X[0])[0], model.S.toarray() @ row, atol=1e-5)


def test_svd_projects_on_the_top_right_singular_vectors(X):
    model = TruncatedSVDRecommender(factors=3).fit(X)
    _, _, vt = np.linalg.svd(X.toarray().astype(np.float64), full_matrices=False)
    projector = vt[:3].T @ vt[:3]  # sign-free
    assert np.allclose(model.score(X[:5]), X[:5].toarray() @ projector, atol=1e-4)


def test_popularity_counts_visitors_overall_and_per_group(X):
    model = Popularity().fit(X, groups={"g": np.array([0, 1])})
    assert np.array_equal(model.counts, (X.toarray() > 0).sum(axis=0))
    assert np.array_equal(model.scores_for("g"), (X.toarray()[:2] > 0).sum(axis=0))
    assert np.array_equal(model.scores_for("unknown"), model.counts)


def test_content_similarity_and_cold_items_through_the_hybrid():
    texts = ["python django web", "python django orm", "gardening roses", "roses pruning garden"]
    X = sparse.csr_matrix(np.array([[1, 0, 1, 0], [1, 0, 1, 0], [0, 0, 1, 0]], dtype=np.float32))
    content = ContentTFIDF(k=3).fit(X, texts=texts)
    assert content.similar(0, 1)[0][0] == 1
    assert content.similar(2, 1)[0][0] == 3
    hybrid = Hybrid(weights={"ease": 1.0, "content": 0.5, "popularity": 0.1}).fit(X, texts=texts)
    # Item 1 has no interactions at all: only content can bring it to a visitor of item 0.
    row = sparse.csr_matrix(([1.0], ([0], [0])), shape=(1, 4))
    assert hybrid.parts["ease"].score(row)[0, 1] == 0
    assert [item for item, _ in hybrid.recommend(row, 2)] == [2, 1]
    # A visitor with no interactions gets popularity first (item 2: three visitors).
    assert int(np.argmax(hybrid.cold_scores())) == 2


@pytest.mark.parametrize("name", ["popularity", "item_knn", "svd", "ease", "content", "hybrid"])
def test_artefacts_round_trip_without_pickle(X, name):
    texts = [f"word{i % 4} topic{i % 3}" for i in range(X.shape[1])]
    params = {"factors": 3} if name == "svd" else {}
    model = build(name, params).fit(X, texts=texts)
    loaded = artefacts.loads(artefacts.dumps(model, [str(i) for i in range(X.shape[1])]), 9)
    assert loaded.items[3] == "3" and loaded.version_id == 9
    assert np.allclose(loaded.model.score(X[:4]), model.score(X[:4]), atol=1e-6)
    assert loaded.model.similar(1, 3) == model.similar(1, 3)


def test_reasons_name_the_visitors_item_that_contributed_most():
    X = sparse.csr_matrix(
        np.array(
            [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1], [1, 0, 0, 0]], dtype=np.float32
        )
    )
    model = ItemKNN(k=3).fit(X)
    # A visitor of items 0 and 2: item 1 is recommended because of 0, item 3 because of 2.
    assert model.explain([0, 2], [1.0, 1.0], [1, 3]) == [0, 2]


def test_ease_on_the_most_popular_items_is_ease_on_that_submatrix(X):
    """max_items=k equals a full EASE fitted on the k most popular columns, embedded."""
    popularity = (X.toarray() > 0).sum(axis=0)
    columns = np.sort(np.argsort(-popularity, kind="stable")[:5])
    small = EASE(l2=5.0, max_items=5).fit(X)
    reference = EASE(l2=5.0).fit(X[:, columns])
    scores = small.score(X[:4])
    assert np.allclose(scores[:, columns], reference.score(X[:4][:, columns]), atol=1e-5)
    others = np.setdiff1d(np.arange(X.shape[1]), columns)
    assert not scores[:, others].any()
    loaded = artefacts.loads(artefacts.dumps(small, [str(i) for i in range(X.shape[1])]))
    assert np.allclose(loaded.model.score(X[:4]), scores)
    assert loaded.model.similar(int(columns[0]), 3) == small.similar(int(columns[0]), 3)
    assert small.similar(int(others[0]), 3) == []  # outside the fitted items: no neighbours
