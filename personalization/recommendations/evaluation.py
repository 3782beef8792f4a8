"""Offline evaluation: splits and ranking metrics (plain numpy; no Django).

Protocol (the same in every training run and in the MovieLens benchmark): rank every item for a
visitor, drop the visitor's training items, compare the top K with their held-out items under
binary relevance. NDCG uses a log2 discount and the ideal DCG over min(K, |test|) hits; MAP@K
divides by min(K, |test|) too.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from .algorithms import Recommender, top_n


@dataclass
class Split:
    train: sparse.csr_matrix
    test: dict[int, np.ndarray]  # user index -> held-out item indices
    kind: str = "time"


def _matrix(users, items, weights, shape) -> sparse.csr_matrix:
    X = sparse.csr_matrix((weights, (users, items)), shape=shape, dtype=np.float32)
    X.sum_duplicates()
    return X


def time_split(users, items, weights, timestamps, shape, *, fraction: float = 0.2) -> Split:
    """Per visitor, the latest ``fraction`` of their interactions (by timestamp; ties keep the
    input order) is the test set, at least one when they have two or more."""
    users, items = np.asarray(users), np.asarray(items)
    weights, timestamps = np.asarray(weights, dtype=np.float32), np.asarray(timestamps)
    order = np.lexsort((np.arange(len(users)), timestamps, users))
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    ends = np.r_[starts[1:], len(order)]
    is_test = np.zeros(len(order), dtype=bool)
    for start, end in zip(starts, ends, strict=True):
        n = end - start
        if n < 2:
            continue
        n_test = min(n - 1, max(1, int(round(fraction * n))))
        is_test[order[end - n_test : end]] = True
    return _finish(users, items, weights, is_test, shape, "time")


def random_split(users, items, weights, shape, *, fraction: float = 0.2, seed: int = 0) -> Split:
    """A random ``fraction`` of each visitor's interactions is held out (fixed seed)."""
    rng = np.random.default_rng(seed)
    users, items = np.asarray(users), np.asarray(items)
    weights = np.asarray(weights, dtype=np.float32)
    is_test = np.zeros(len(users), dtype=bool)
    order = np.argsort(users, kind="stable")
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for start, end in zip(starts, ends, strict=True):
        n = end - start
        if n < 2:
            continue
        n_test = min(n - 1, max(1, int(round(fraction * n))))
        is_test[rng.choice(order[start:end], size=n_test, replace=False)] = True
    return _finish(users, items, weights, is_test, shape, "random")


def _finish(users, items, weights, is_test, shape, kind) -> Split:
    train = _matrix(users[~is_test], items[~is_test], weights[~is_test], shape)
    test: dict[int, set] = {}
    for u, i in zip(users[is_test].tolist(), items[is_test].tolist(), strict=True):
        test.setdefault(u, set()).add(i)
    held = {u: np.array(sorted(s - set(train[u].indices.tolist()))) for u, s in test.items()}
    return Split(train=train, test={u: v for u, v in held.items() if len(v)}, kind=kind)


@dataclass
class Metrics:
    k: int
    users: int = 0
    precision: float = 0.0
    recall: float = 0.0
    ndcg: float = 0.0
    map: float = 0.0
    hit_rate: float = 0.0
    coverage: float = 0.0
    novelty: float = 0.0
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        k = self.k
        return {
            f"precision@{k}": round(self.precision, 5),
            f"recall@{k}": round(self.recall, 5),
            f"ndcg@{k}": round(self.ndcg, 5),
            f"map@{k}": round(self.map, 5),
            f"hit_rate@{k}": round(self.hit_rate, 5),
            "coverage": round(self.coverage, 5),
            "novelty": round(self.novelty, 4),
            "users": self.users,
            "fit_seconds": round(self.fit_seconds, 3),
            "predict_seconds": round(self.predict_seconds, 3),
        }


def ranking_metrics(recommended: list[int], relevant: set[int], k: int) -> tuple[float, ...]:
    """(precision, recall, ndcg, average precision, hit) of one ranked list: binary relevance."""
    hits = [1.0 if item in relevant else 0.0 for item in recommended[:k]]
    n_hits = sum(hits)
    dcg = sum(h / math.log2(rank + 2) for rank, h in enumerate(hits))
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    running, ap = 0.0, 0.0
    for rank, h in enumerate(hits):
        if h:
            running += 1
            ap += running / (rank + 1)
    denominator = min(k, len(relevant))
    return (
        n_hits / k,
        n_hits / len(relevant),
        dcg / ideal if ideal else 0.0,
        ap / denominator if denominator else 0.0,
        1.0 if n_hits else 0.0,
    )


def top_k_for_users(
    model: Recommender, train: sparse.csr_matrix, users, k: int, batch: int = 1024
) -> dict[int, list[int]]:
    """Every item scored, training items removed, top k per user."""
    users = list(users)
    result: dict[int, list[int]] = {}
    for start in range(0, len(users), batch):
        chunk = users[start : start + batch]
        rows = train[chunk]
        scores = np.asarray(model.score(rows), dtype=np.float64)
        for j, u in enumerate(chunk):
            seen = rows[j].indices
            scores[j, seen] = -np.inf
            result[u] = top_n(scores[j], k).tolist()
    return result


def evaluate(model: Recommender, split: Split, *, k: int = 10, fit_seconds: float = 0.0) -> Metrics:
    """Metrics of an already fitted model on a split's held-out items."""
    users = sorted(split.test)
    started = time.perf_counter()
    ranked = top_k_for_users(model, split.train, users, k)
    predict_seconds = time.perf_counter() - started
    n_users_total = max(1, split.train.shape[0])
    popularity = np.asarray((split.train > 0).sum(axis=0)).ravel()
    sums = np.zeros(5)
    recommended_items: set[int] = set()
    novelty_total, novelty_n = 0.0, 0
    for u in users:
        items = ranked[u]
        sums += ranking_metrics(items, set(split.test[u].tolist()), k)
        recommended_items.update(items)
        for i in items:
            novelty_total += -math.log2(max(popularity[i], 1) / n_users_total)
            novelty_n += 1
    n = max(1, len(users))
    p, r, ndcg, ap, hit = (sums / n).tolist()
    return Metrics(
        k=k,
        users=len(users),
        precision=p,
        recall=r,
        ndcg=ndcg,
        map=ap,
        hit_rate=hit,
        coverage=len(recommended_items) / max(1, split.train.shape[1]),
        novelty=novelty_total / novelty_n if novelty_n else 0.0,
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
    )


def fit_and_evaluate(model: Recommender, split: Split, *, k: int = 10, **context) -> Metrics:
    started = time.perf_counter()
    model.fit(split.train, **context)
    return evaluate(model, split, k=k, fit_seconds=time.perf_counter() - started)
