"""Recommenders behind one small interface, in plain numpy/scipy/scikit-learn (no Django).

Every recommender scores a visitor from their *interaction row* (items x weights), never from a
per-visitor parameter learnt in training ("folding in"). So a trained artefact holds item-side
numbers only: a visitor who arrives after training is scored like one seen in it, and erasing a
visitor needs no retraining to forget them (their row simply stops existing).

- ``fit(X, ...)``: X is a CSR matrix, visitors x items, of interaction weights;
- ``score(rows)``: a dense (n, items) array of scores for interaction rows;
- ``similar(item, n)``: the n most similar items to an item index, with similarities;
- ``state()`` / ``from_state(params, state)``: arrays to store and load an artefact.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import sparse

FLOAT = np.float32


def _csr(X) -> sparse.csr_matrix:
    return sparse.csr_matrix(X, dtype=FLOAT)


def top_k_columns(S: np.ndarray | sparse.spmatrix, k: int, chunk: int = 1024) -> sparse.csr_matrix:
    """Keep the k largest entries of each row of a square similarity (the neighbour lists).
    Rows are processed in chunks, so memory stays near the size of S itself."""
    n = S.shape[0]
    k = min(k, S.shape[1])
    if k <= 0 or n == 0:
        return sparse.csr_matrix(S.shape, dtype=FLOAT)
    rows_out, cols_out, vals_out = [], [], []
    for start in range(0, n, chunk):
        block = S[start : start + chunk]
        block = block.toarray() if sparse.issparse(block) else np.asarray(block)
        idx = np.argpartition(-block, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(block, idx, axis=1)
        keep = vals > 0
        rows_out.append((np.arange(start, start + len(block))[:, None] + 0 * idx)[keep])
        cols_out.append(idx[keep])
        vals_out.append(vals[keep].astype(FLOAT))
    return sparse.csr_matrix(
        (np.concatenate(vals_out), (np.concatenate(rows_out), np.concatenate(cols_out))),
        shape=S.shape,
    )


def top_n(scores: np.ndarray, n: int, exclude=None) -> np.ndarray:
    """Indices of the n best scores, best first; ``exclude`` indices are never returned."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None and len(exclude):
        scores[np.asarray(exclude, dtype=np.int64)] = -np.inf
    n = min(n, int(np.isfinite(scores).sum()))
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.lexsort((part, -scores[part]))]


class Recommender:
    """The interface. Subclasses set ``name`` and implement ``fit``, ``score`` and ``state``."""

    name: ClassVar[str] = ""
    n_items: int = 0

    def __init__(self, **params: Any) -> None:
        self.params = params

    def fit(self, X, **context: Any) -> Recommender:
        raise NotImplementedError

    def score(self, rows) -> np.ndarray:
        raise NotImplementedError

    def item_similarity(self) -> sparse.csr_matrix | np.ndarray | None:
        """Items x items similarity for "more like this" (None if the model has none)."""
        return None

    def similarity_rows(self, items) -> np.ndarray | None:
        """Dense rows of the item similarity for these item indices (None: no similarity)."""
        S = self.item_similarity()
        if S is None:
            return None
        rows = S[np.asarray(items, dtype=np.int64)]
        return rows.toarray() if sparse.issparse(rows) else np.asarray(rows)

    def similar(self, item: int, n: int = 10) -> list[tuple[int, float]]:
        if not 0 <= item < self.n_items:
            return []
        rows = self.similarity_rows([item])
        if rows is None:
            return []
        row = rows[0].astype(np.float64)
        row[item] = -np.inf
        best = top_n(row, n)
        return [(int(i), float(row[i])) for i in best if row[i] > 0]

    def explain(self, row_items, row_weights, targets) -> list[int | None]:
        """For each target item, the visitor's item that contributed most to its score
        (``x_j * similarity[target, j]``), or None: "because you viewed X"."""
        row_items = np.asarray(row_items, dtype=np.int64)
        if not len(row_items) or not len(targets):
            return [None] * len(targets)
        rows = self.similarity_rows(targets)
        if rows is None:
            return [None] * len(targets)
        contributions = rows[:, row_items] * np.asarray(row_weights, dtype=np.float64)
        best = contributions.argmax(axis=1)
        return [int(row_items[b]) if contributions[n, b] > 0 else None for n, b in enumerate(best)]

    def state(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    @classmethod
    def from_state(cls, params: dict[str, Any], state: dict[str, Any]) -> Recommender:
        model = cls(**params)
        model.load_state(state)
        return model

    def recommend(self, row, n: int = 10, *, exclude_seen: bool = True) -> list[tuple[int, float]]:
        """Top-n (item index, score) for one interaction row."""
        row = _csr(row)
        scores = self.score(row)[0]
        best = top_n(scores, n, exclude=row.indices if exclude_seen else None)
        return [(int(i), float(scores[i])) for i in best]


class Popularity(Recommender):
    """How many visitors interacted with each item, optionally only in a recent window
    (``trending``), optionally per group of visitors (segments). The cold-start fallback."""

    name = "popularity"

    def fit(self, X, *, recent=None, groups: dict[str, np.ndarray] | None = None, **_):
        X = _csr(X)
        self.n_items = X.shape[1]
        source = _csr(recent) if recent is not None else X
        self.counts = np.asarray((source > 0).sum(axis=0)).ravel().astype(FLOAT)
        self.groups = {}
        for name, user_rows in (groups or {}).items():
            if len(user_rows):
                sub = source[np.asarray(user_rows, dtype=np.int64)]
                self.groups[name] = np.asarray((sub > 0).sum(axis=0)).ravel().astype(FLOAT)
        return self

    def scores_for(self, group: str | None = None) -> np.ndarray:
        return self.groups.get(group, self.counts) if group else self.counts

    def score(self, rows) -> np.ndarray:
        n = _csr(rows).shape[0]
        return np.tile(self.counts, (n, 1))

    def state(self):
        return {"counts": self.counts, "groups": self.groups}

    def load_state(self, state):
        self.counts = np.asarray(state["counts"], dtype=FLOAT)
        self.groups = {k: np.asarray(v, dtype=FLOAT) for k, v in state.get("groups", {}).items()}
        self.n_items = len(self.counts)


class NeighbourModel(Recommender):
    """A sparse item-item similarity S (top-k neighbours per row); ``score = x S^T``."""

    S: sparse.csr_matrix
    _St: sparse.csr_matrix | None = None

    def score(self, rows):
        if self._St is None:
            self._St = sparse.csr_matrix(self.S.T)  # built once per model
        return np.asarray((_csr(rows) @ self._St).todense())

    def item_similarity(self):
        return self.S

    def state(self):
        return {"S": self.S}

    def load_state(self, state):
        self.S = sparse.csr_matrix(state["S"], dtype=FLOAT)
        self.n_items = self.S.shape[0]
        self._St = None


class ItemKNN(NeighbourModel):
    """Item-to-item collaborative filtering: cosine between item columns, top-k neighbours."""

    name = "item_knn"

    def __init__(self, k: int = 100, shrink: float = 0.0, **params):
        super().__init__(k=k, shrink=shrink, **params)
        self.k, self.shrink = int(k), float(shrink)

    def fit(self, X, **_):
        X = _csr(X)
        self.n_items = X.shape[1]
        S = (X.T @ X).toarray()  # float32, in place from here on
        norms = np.sqrt(np.diag(S)).astype(FLOAT)
        for start in range(0, S.shape[0], 1024):
            block = S[start : start + 1024]
            block /= np.outer(norms[start : start + 1024], norms) + self.shrink + 1e-12
        np.fill_diagonal(S, 0.0)
        self.S = top_k_columns(S, self.k)
        self._St = None
        return self


class TruncatedSVDRecommender(Recommender):
    """A latent model: scikit-learn's truncated SVD; a visitor row is projected on the item
    factors (x V^T V), so new visitors need no retraining."""

    name = "svd"

    def __init__(self, factors: int = 30, random_state: int = 0, solver: str = "arpack", **params):
        super().__init__(factors=factors, random_state=random_state, solver=solver, **params)
        self.factors, self.random_state = int(factors), int(random_state)
        self.solver = solver if solver in {"arpack", "randomized"} else "arpack"

    def fit(self, X, **_):
        from sklearn.decomposition import TruncatedSVD

        X = _csr(X)
        self.n_items = X.shape[1]
        k = max(1, min(self.factors, min(X.shape) - 1))
        svd = TruncatedSVD(n_components=k, random_state=self.random_state, algorithm=self.solver)
        svd.fit(X)
        self.V = svd.components_.astype(FLOAT)  # factors x items
        return self

    def score(self, rows):
        return np.asarray(_csr(rows) @ self.V.T) @ self.V

    def _unit_factors(self) -> np.ndarray:
        F = self.V.T
        return F / (np.linalg.norm(F, axis=1, keepdims=True) + 1e-12)

    def similarity_rows(self, items):
        F = self._unit_factors()
        return F[np.asarray(items, dtype=np.int64)] @ F.T

    def state(self):
        return {"V": self.V}

    def load_state(self, state):
        self.V = np.asarray(state["V"], dtype=FLOAT)
        self.n_items = self.V.shape[1]


def spd_inverse(G: np.ndarray, ridge: float, block: int = 1024) -> np.ndarray:
    """(G + ridge I)^-1 for a symmetric positive semi-definite G, in place, in G's precision:
    a Cholesky factorisation and its inverse (LAPACK ``potrf``/``potri``), about a third of the
    work of a general inverse; the lower triangle is mirrored in blocks to save memory."""
    from scipy.linalg import lapack

    G[np.diag_indices_from(G)] += ridge
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (G,))
    factor, info = potrf(G, lower=False, clean=False, overwrite_a=True)
    if info:
        raise np.linalg.LinAlgError(f"Gram matrix not positive definite (potrf info {info})")
    P, info = potri(factor, lower=False, overwrite_c=True)
    if info:
        raise np.linalg.LinAlgError(f"potri failed (info {info})")
    n = P.shape[0]
    for start in range(0, n, block):
        stop = min(n, start + block)
        # rows start..stop, columns before start: copy from the upper triangle
        P[start:stop, :start] = P[:start, start:stop].T
        sub = P[start:stop, start:stop]
        sub[np.tril_indices(stop - start, -1)] = sub.T[np.tril_indices(stop - start, -1)]
    return P


class EASE(Recommender):
    """Embarrassingly Shallow Autoencoder (Steck 2019): a closed-form item-item model,
    B = I - P diagMat(1 / diag(P)) with P = (X^T X + lambda I)^-1, diagonal forced to zero.

    The inverse costs O(items^3) time and O(items^2) memory; ``max_items`` fits it on the most
    popular items only (the others score 0 here; a hybrid reaches them through content and
    popularity), the usual way to keep EASE within budget on a large catalogue."""

    name = "ease"

    def __init__(self, l2: float = 300.0, max_items: int | None = None, **params):
        super().__init__(l2=l2, max_items=max_items, **params)
        self.l2 = float(l2)
        self.max_items = int(max_items) if max_items else None

    def fit(self, X, **_):
        X = _csr(X)
        self.n_items = X.shape[1]
        columns = np.arange(self.n_items)
        if self.max_items and self.max_items < self.n_items:
            popularity = np.asarray((X > 0).sum(axis=0)).ravel()
            columns = np.sort(np.argsort(-popularity, kind="stable")[: self.max_items])
            X = X[:, columns]
        self.columns = columns.astype(np.int64)
        self._positions = None
        P = spd_inverse((X.T @ X).toarray(), self.l2)
        P /= -np.diag(P)  # B = -P / diag(P), in place
        np.fill_diagonal(P, 0.0)
        self.B = np.ascontiguousarray(P, dtype=FLOAT)  # potri returns Fortran order
        return self

    def _full(self) -> bool:
        return len(self.columns) == self.n_items

    def _position(self) -> np.ndarray:
        """Item index -> row of B (-1: not fitted), built once."""
        if getattr(self, "_positions", None) is None:
            self._positions = np.full(self.n_items, -1, dtype=np.int64)
            self._positions[self.columns] = np.arange(len(self.columns))
        return self._positions

    def score(self, rows):
        rows = _csr(rows)
        if self._full():
            return np.asarray(rows @ self.B)
        # Remap the rows' item indices onto B's (cheaper than slicing CSR columns).
        mapped = self._position()[rows.indices]
        keep = mapped >= 0
        owner = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        sub = sparse.csr_matrix(
            (rows.data[keep], (owner[keep], mapped[keep])), shape=(rows.shape[0], len(self.columns))
        )
        out = np.zeros((rows.shape[0], self.n_items), dtype=FLOAT)
        out[:, self.columns] = np.asarray(sub @ self.B)
        return out

    def similarity_rows(self, items):
        """Row i: how much an interaction with item i predicts each other item (B^T)."""
        items = np.asarray(items, dtype=np.int64)
        if self._full():
            return np.asarray(self.B.T[items])
        position = self._position()
        out = np.zeros((len(items), self.n_items), dtype=FLOAT)
        known = position[items] >= 0
        out[np.ix_(np.flatnonzero(known), self.columns)] = self.B.T[position[items[known]]]
        return out

    def state(self):
        return {"B": self.B, "columns": self.columns, "n_items": np.array(self.n_items)}

    def load_state(self, state):
        self.B = np.asarray(state["B"], dtype=FLOAT)
        self.n_items = int(state["n_items"]) if "n_items" in state else self.B.shape[0]
        self.columns = np.asarray(state.get("columns", np.arange(self.n_items)), dtype=np.int64)
        self._positions = None


class ContentTFIDF(NeighbourModel):
    """Content-based: TF-IDF over each item's text (title, body, tags, categories, page type),
    cosine between items. Works for items nobody has interacted with yet ("more like this")."""

    name = "content"

    def __init__(self, k: int = 50, max_features: int = 20000, **params):
        super().__init__(k=k, max_features=max_features, **params)
        self.k, self.max_features = int(k), int(max_features)

    def fit(self, X, *, texts: list[str] | None = None, **_):
        from sklearn.feature_extraction.text import TfidfVectorizer

        X = _csr(X)
        self.n_items = X.shape[1]
        texts = list(texts or [])
        texts += [""] * (self.n_items - len(texts))
        if any(t.strip() for t in texts):
            vectorizer = TfidfVectorizer(
                max_features=self.max_features, sublinear_tf=True, stop_words="english"
            )
            try:
                F = vectorizer.fit_transform(texts)
            except ValueError:  # only stop words
                F = sparse.csr_matrix((self.n_items, 1))
        else:
            F = sparse.csr_matrix((self.n_items, 1))
        S = (F @ F.T).tocsr().astype(FLOAT)
        S.setdiag(0.0)
        S.eliminate_zeros()
        self.S = top_k_columns(S, self.k)
        self._St = None
        return self


class ExternalFactors(Recommender):
    """Item factors trained elsewhere (e.g. Spark MLlib ALS): visitors are folded in by ridge
    least squares, ``u = x V^T (V V^T + l2 I)^-1``, so no visitor factor leaves the trainer.
    ``fit`` learns nothing; the factors come from ``load_state`` or ``set_factors``."""

    name = "factors"

    def __init__(self, l2: float = 0.1, **params):
        super().__init__(l2=l2, **params)
        self.l2 = float(l2)
        self.V = np.zeros((1, 0), dtype=FLOAT)

    def set_factors(self, V: np.ndarray) -> ExternalFactors:
        self.V = np.asarray(V, dtype=FLOAT)
        self.n_items = self.V.shape[1]
        return self

    def fit(self, X, **_):
        return self

    def score(self, rows):
        V = self.V.astype(np.float64)
        gram = V @ V.T + self.l2 * np.eye(V.shape[0])
        users = np.linalg.solve(gram, (np.asarray(_csr(rows) @ V.T)).T).T
        return users @ V

    def similarity_rows(self, items):
        F = self.V.T / (np.linalg.norm(self.V.T, axis=1, keepdims=True) + 1e-12)
        return F[np.asarray(items, dtype=np.int64)] @ F.T

    def state(self):
        return {"V": self.V}

    def load_state(self, state):
        self.set_factors(state["V"])


def _row_normalise(scores: np.ndarray) -> np.ndarray:
    top = np.abs(scores).max(axis=1, keepdims=True)
    return np.divide(scores, top, out=np.zeros_like(scores, dtype=np.float64), where=top > 0)


class Hybrid(Recommender):
    """A weighted blend of component recommenders, each normalised per visitor to [0, 1].

    Cold start: a visitor with no interactions gets (group) popularity; an item nobody has
    interacted with gets scores only from the content component, so it can still be reached.
    """

    name = "hybrid"
    COMPONENTS: ClassVar[dict[str, type[Recommender]]] = {}

    def __init__(self, weights: dict[str, float] | None = None, components=None, **params):
        weights = weights or {"ease": 1.0, "content": 0.1, "popularity": 0.05}
        components = components or {}
        super().__init__(weights=weights, components=components, **params)
        self.weights = {k: float(v) for k, v in weights.items()}
        self.component_params = components
        self.parts: dict[str, Recommender] = {}

    def fit(self, X, **context):
        X = _csr(X)
        self.n_items = X.shape[1]
        for name, weight in self.weights.items():
            if weight:
                cls = RECOMMENDERS[name]
                self.parts[name] = cls(**self.component_params.get(name, {})).fit(X, **context)
        return self

    def score(self, rows):
        rows = _csr(rows)
        total = np.zeros((rows.shape[0], self.n_items))
        for name, part in self.parts.items():
            total += self.weights[name] * _row_normalise(part.score(rows))
        return total

    def cold_scores(self, group: str | None = None) -> np.ndarray:
        popularity = self.parts.get("popularity")
        if isinstance(popularity, Popularity):
            return popularity.scores_for(group)
        return np.zeros(self.n_items, dtype=FLOAT)

    def similarity_rows(self, items):
        for name in ("item_knn", "ease", "svd", "content"):
            if name in self.parts:
                return self.parts[name].similarity_rows(items)
        return None

    def similar(self, item, n=10):
        """Collaborative neighbours when the item has them, else content neighbours."""
        for name in ("item_knn", "ease", "svd", "content"):
            part = self.parts.get(name)
            if part is not None:
                found = part.similar(item, n)
                if found:
                    return found
        return []

    def state(self):
        return {name: part.state() for name, part in self.parts.items()}

    def load_state(self, state):
        for name, part_state in state.items():
            cls = RECOMMENDERS[name]
            self.parts[name] = cls.from_state(self.component_params.get(name, {}), part_state)
        self.n_items = next(iter(self.parts.values())).n_items if self.parts else 0


RECOMMENDERS: dict[str, type[Recommender]] = {
    cls.name: cls
    for cls in (
        Popularity,
        ItemKNN,
        TruncatedSVDRecommender,
        EASE,
        ContentTFIDF,
        Hybrid,
        ExternalFactors,
    )
}


def build(name: str, params: dict[str, Any] | None = None) -> Recommender:
    """A recommender by registered name; a ``KeyError`` names an unknown one."""
    return RECOMMENDERS[name](**(params or {}))
