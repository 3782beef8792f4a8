"""``_mmr`` keeps each entry's redundancy up to date with the latest pick instead of recomputing
it against every pick: the picks must be exactly those of the plain MMR loop."""

from __future__ import annotations

import math
import random

import pytest

from personalization.recommendations.catalogue import CatalogueItem
from personalization.recommendations.serving import _Candidate, _mmr, _similarity

TAGS = ["python", "garden", "django", "roses", "type:demo.articlepage", "category:guides"]


def plain_mmr(pool, limit, lam, top):
    """The MMR loop as it was: every entry against every pick, each time."""
    pool, chosen = list(pool), []
    while pool and len(chosen) < limit:
        best_i, best_value = 0, -math.inf
        for i, (_, page, score) in enumerate(pool):
            redundancy = max((_similarity(page, p) for _, p, _ in chosen), default=0.0)
            value = lam * score / top - (1.0 - lam) * redundancy
            if value > best_value + 1e-12:
                best_i, best_value = i, value
        chosen.append(pool.pop(best_i))
    return chosen


def random_pool(rng: random.Random, size: int):
    pool = []
    for n in range(size):
        tags = frozenset(rng.sample(TAGS, rng.randint(0, 4)))
        page = CatalogueItem(str(n), f"t{n}", f"/{n}/", "demo.articlepage", "", (1,), tags, None)
        # Few distinct scores: ties are common, so the tie rule is exercised.
        score = rng.choice([0.3, 0.5, 0.5, 1.0, 1.2, 2.0])
        pool.append((_Candidate(str(n), score, "popular"), page, score))
    pool.sort(key=lambda entry: (-entry[2], entry[0].item))
    return pool


@pytest.mark.parametrize("seed", range(40))
def test_incremental_mmr_picks_what_the_plain_loop_picks(seed):
    rng = random.Random(seed)
    pool = random_pool(rng, rng.randint(0, 30))
    top = max((s for _, _, s in pool), default=1.0)
    for lam in (0.0, 0.3, 0.8, 1.0):
        limit = rng.randint(1, 12)
        expected = [e[0].item for e in plain_mmr(pool, limit, lam, top)]
        assert [e[0].item for e in _mmr(pool, limit, lam, top)] == expected


def test_similarity_is_jaccard_over_tags():
    a = CatalogueItem("1", "", "", "", "", (), frozenset({"x", "y", "z"}), None)
    b = CatalogueItem("2", "", "", "", "", (), frozenset({"y", "z", "w", "v"}), None)
    assert _similarity(a, b) == 2 / 5
    assert _similarity(a, CatalogueItem("3", "", "", "", "", (), frozenset(), None)) == 0.0
