"""Ranking for the embedded backend: usearch cosine, optionally fused with sqlite FTS5 BM25.

The score is the absolute relevance of :mod:`.fusion`, shared with the Weaviate backend, over
the union of vector and BM25 candidates (each candidate's exact cosine included), so that one
threshold can tell "no answer" from an answer whatever the query. When the text matches no
chunk (or ``alpha`` is 1) the score is the plain cosine similarity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from . import embedded_sql as sql
from .base import ScoredChunk
from .embedded_usearch import Index
from .fusion import candidate_count, fuse

#: Below this many vectors a brute-force scan is as fast as HNSW, and exact.
EXACT_BELOW = 2_000
#: A document filter matching at most this many chunks is scored exactly (no over-fetch).
FILTER_EXACT_LIMIT = 20_000

#: Most postings (chunk, word pairs) BM25 may walk per query: bounds hybrid latency.
POSTINGS_BUDGET = 1_500

Query = Callable[[str, Sequence[object]], list[tuple[Any, ...]]]
Scores = dict[int, float]


class Searcher:
    """One search over one business's index (the caller holds its read lock)."""

    def __init__(self, index: Index, query: Query, alpha: float) -> None:
        self._index = index
        self._query = query
        self._alpha = alpha

    def search(
        self,
        vector: npt.NDArray[np.float32],
        text: str,
        top_k: int,
        document_ids: Sequence[str] | None,
    ) -> list[ScoredChunk]:
        if not len(self._index):
            return []
        allowed = None if document_ids is None else self._allowed_keys(document_ids)
        if allowed is not None and not allowed.size:
            return []
        if allowed is None or allowed.size > FILTER_EXACT_LIMIT:
            cosine = self._nearest(vector, top_k, allowed)
            lexical = self._bm25(text, top_k, document_ids) if self._alpha < 1.0 else {}
        else:
            # A small filter is scored exactly: take the best few by vector and let BM25
            # re-rank just those (an FTS5 match joined to a filter walks every posting).
            cosine = self._nearest(vector, candidate_count(top_k), allowed)
            lexical = self._bm25_among(text, list(cosine)) if self._alpha < 1.0 else {}
        extra = [k for k in lexical if k not in cosine]
        cosine.update(self._cosine(vector, np.array(extra, dtype=np.uint64)))
        scores = fuse(cosine, lexical, self._alpha)
        best = sorted(scores, key=lambda k: (-scores[k], -cosine.get(k, 0.0), k))[:top_k]
        return self._rows(best, scores)

    def _allowed_keys(self, document_ids: Sequence[str]) -> npt.NDArray[np.uint64]:
        unique = list(dict.fromkeys(document_ids))
        rows = self._query(
            f"SELECT key FROM chunks WHERE document_id IN ({sql.placeholders(len(unique))})",  # noqa: S608
            unique,
        )
        return np.array([r[0] for r in rows], dtype=np.uint64)

    def _nearest(
        self, vector: npt.NDArray[np.float32], count: int, allowed: npt.NDArray[np.uint64] | None
    ) -> Scores:
        size = len(self._index)
        if allowed is None:
            return self._ann(vector, count, exact=size < EXACT_BELOW)
        if allowed.size <= FILTER_EXACT_LIMIT:
            scores = self._cosine(vector, allowed)
            return dict(sorted(scores.items(), key=lambda kv: -kv[1])[:count])
        # A large filter: over-fetch from HNSW until enough allowed keys come back.
        wanted = set(allowed.tolist())
        fetch = count * 4
        while True:
            found = {k: c for k, c in self._ann(vector, fetch, exact=False).items() if k in wanted}
            if len(found) >= count or fetch >= size:
                return dict(sorted(found.items(), key=lambda kv: -kv[1])[:count])
            fetch *= 4

    def _ann(self, vector: npt.NDArray[np.float32], count: int, *, exact: bool) -> Scores:
        matches = self._index.search(vector, count, exact=exact, threads=1)
        return {
            int(k): 1.0 - float(d)
            for k, d in zip(matches.keys.tolist(), matches.distances.tolist(), strict=True)
        }

    def _cosine(self, vector: npt.NDArray[np.float32], keys: npt.NDArray[np.uint64]) -> Scores:
        """Exact cosine of the stored (normalised) vectors of ``keys``."""
        if not keys.size:
            return {}
        got: Any = self._index.get(keys, dtype="f32")
        items = list(got) if isinstance(got, tuple) else list(np.atleast_2d(got))
        stored = [v for v in items if v is not None]
        present = [int(k) for k, v in zip(keys.tolist(), items, strict=True) if v is not None]
        if not stored:
            return {}
        matrix = np.stack(stored).reshape(len(stored), -1)
        norms = np.linalg.norm(matrix, axis=1)
        sims = (matrix @ vector) / np.maximum(norms * float(np.linalg.norm(vector)), 1e-12)
        return dict(zip(present, sims.astype(float).tolist(), strict=True))

    def _selective_words(self, text: str) -> list[str]:
        """The query's words, rarest first, while their postings fit :data:`POSTINGS_BUDGET`.

        BM25 cost grows with the postings of every query word; words in most chunks
        ("the", "open") carry almost no IDF weight, so leaving them out bounds latency at
        a negligible cost to ranking."""
        words = sql.query_words(text)
        if not words:
            return []
        rows = self._query(
            f"SELECT term, doc FROM chunks_terms WHERE term IN ({sql.placeholders(len(words))})",  # noqa: S608
            words,
        )
        frequency = {term: int(doc) for term, doc in rows}
        kept: list[str] = []
        postings = 0
        for word in sorted(words, key=lambda w: frequency.get(w, 0)):
            postings += frequency.get(word, 0)
            if kept and postings > POSTINGS_BUDGET:
                break
            kept.append(word)
        return [w for w in kept if frequency.get(w, 1) <= POSTINGS_BUDGET]

    def _bm25(self, text: str, top_k: int, document_ids: Sequence[str] | None) -> Scores:
        """BM25 of the best lexical matches (higher is better; FTS5 reports it negated)."""
        match = sql.fts_query(self._selective_words(text))
        if match is None:
            return {}
        limit = candidate_count(top_k)
        if document_ids is None:
            rows = self._query(sql.BM25_TOP, [match, limit])
        else:
            unique = list(dict.fromkeys(document_ids))
            rows = self._query(sql.bm25_top_in_documents(len(unique)), [match, *unique, limit])
        return {int(k): -float(s) for k, s in rows}

    def _bm25_among(self, text: str, keys: list[int]) -> Scores:
        match = sql.fts_query(self._selective_words(text))
        if match is None or not keys:
            return {}
        rows = self._query(sql.bm25_among(len(keys)), [match, *keys])
        return {int(k): -float(s) for k, s in rows}

    def _rows(self, keys: list[int], scores: Scores) -> list[ScoredChunk]:
        if not keys:
            return []
        rows = self._query(
            f"SELECT {sql.CHUNK_COLUMNS} FROM chunks WHERE key IN ({sql.placeholders(len(keys))})",  # noqa: S608
            keys,
        )
        by_key = {int(r[0]): r for r in rows}
        return [sql.chunk_from_row(by_key[k], scores[k]) for k in keys if k in by_key]
