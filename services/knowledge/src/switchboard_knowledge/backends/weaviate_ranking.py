"""Ranking the Weaviate backend's two candidate sets (``near_vector`` and ``bm25``) into one list,
scored by :func:`.fusion.fuse` like the embedded backend's, so one threshold serves both.

Pure functions over what the client returned, so they are unit-tested without a server; kept
apart from :mod:`.weaviate`, which only asks for the candidates. Import from :mod:`.weaviate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from weaviate.outputs.query import Object

from .base import ScoredChunk
from .fusion import fuse
from .weaviate_records import scored_chunk, str_property
from .weaviate_schema import VECTOR_NAME

Found = Object[dict[str, Any], None]


def cosine_from_distance(distance: float | None) -> float:
    """Weaviate's cosine distance (``1 - cosine``, 0..2) as a similarity; unknown: 0."""
    return 0.0 if distance is None else 1.0 - float(distance)


def stored_cosine(query: Sequence[float], found: Found) -> float:
    """The cosine between ``query`` and the vector stored with ``found`` (0 if absent)."""
    stored = found.vector.get(VECTOR_NAME) if found.vector else None
    if not stored:
        return 0.0
    a = np.asarray(query, dtype=np.float64)
    b = np.asarray(stored, dtype=np.float64)
    if b.shape != a.shape:  # a multi-vector or another dimension: not ours
        return 0.0
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norms if norms > 0.0 else 0.0


def rank(
    nearest: Sequence[Found],
    lexical: Sequence[Found],
    query: Sequence[float],
    alpha: float,
    top_k: int,
) -> list[ScoredChunk]:
    """The best ``top_k`` of both candidate sets, scored by :func:`.fusion.fuse`.

    ``nearest`` come from ``near_vector`` with their distance; ``lexical`` from ``bm25`` with
    their score and stored vector. Ties go to the higher cosine, then the chunk id."""
    cosine = {found.uuid: cosine_from_distance(found.metadata.distance) for found in nearest}
    bm25 = {found.uuid: float(found.metadata.score or 0.0) for found in lexical}
    for found in lexical:
        if found.uuid not in cosine:
            cosine[found.uuid] = stored_cosine(query, found)
    properties = {found.uuid: found.properties for found in (*lexical, *nearest)}
    scores = fuse(cosine, bm25, alpha)
    best = sorted(
        scores,
        key=lambda key: (
            -scores[key],
            -cosine.get(key, 0.0),
            str_property(properties[key], "chunk_id"),
        ),
    )
    return [scored_chunk(properties[key], scores[key]) for key in best[:top_k]]
