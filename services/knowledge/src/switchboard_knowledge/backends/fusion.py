"""The relevance score every backend reports: cosine fused with saturated BM25, absolute.

Each backend gathers two candidate sets, the nearest chunks by vector and the best BM25
matches, and scores their union here, so that every backend's scores share one scale and one
calibrated threshold (:mod:`switchboard_knowledge.relevance`) means the same on each:

    score = alpha * cosine + (1 - alpha) * bm25 / (bm25 + BM25_HALF)

A chunk the BM25 side did not match gets 0 there. When the text matches no chunk at all (or
the caller has no keyword side) the score is the plain cosine. The cosine is clamped to
[0, 1] and BM25 is saturated by a fixed constant, never normalised per query: per-query
min-max put the top hit at 0.75-1.0 whatever it was, so a threshold could not tell an answer
from none. Here the same chunk scores the same for the same query whatever else is stored.

Keys are whatever identifies a chunk in the backend (an integer key, a Weaviate uuid).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

#: The vector side's weight, chosen on the evaluation's dev split (bench.knowledge_candidates:
#: 0.85-0.95 rank alike; 0.9 turns more unanswerable questions away within 5 % of answerable).
DEFAULT_ALPHA = 0.9

#: The BM25 score that counts as half a lexical match (FTS5 scores run about 0-20).
BM25_HALF = 8.0


def candidate_count(top_k: int) -> int:
    """How many candidates each side contributes before fusion picks the best ``top_k``."""
    return max(2 * top_k, 20)


def clamp_cosine(cosine: float) -> float:
    return min(max(cosine, 0.0), 1.0)


def saturate(bm25: float) -> float:
    """BM25 onto [0, 1) by a fixed curve: the same match scores the same in any query."""
    bm25 = max(bm25, 0.0)
    return bm25 / (bm25 + BM25_HALF)


def fuse(cosine: Mapping[K, float], lexical: Mapping[K, float], alpha: float) -> dict[K, float]:
    """The score of every candidate in ``cosine`` or ``lexical`` (see the module docstring).

    ``cosine`` must hold the cosine of every candidate, lexical ones included (a missing one
    counts as 0); ``lexical`` holds raw BM25 scores (higher is better) of the matches only.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be within [0, 1] (0 = BM25 only, 1 = vector only)")
    if not lexical:
        return {k: clamp_cosine(c) for k, c in cosine.items()}
    return {
        k: alpha * clamp_cosine(cosine.get(k, 0.0)) + (1.0 - alpha) * saturate(lexical.get(k, 0.0))
        for k in cosine.keys() | lexical.keys()
    }
