"""Hand-made records for the knowledge contract suite: small (8-dimension) vectors whose
nearest neighbours are known, and documents/chunks built from them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from switchboard_knowledge.backends.base import ChunkRecord, DocumentRecord, Vector

DIMS = 8
WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)  # whole seconds: no precision questions


def vec(*weights: float) -> Vector:
    """An L2-normalised float32 vector from up to ``DIMS`` leading weights."""
    padded = np.zeros(DIMS, dtype=np.float64)
    padded[: len(weights)] = weights
    norm = float(np.linalg.norm(padded))
    assert norm > 0, "a zero vector has no direction"
    return (padded / norm).astype(np.float32)


def axis(i: int) -> Vector:
    """The ``i``-th basis vector: orthogonal to every other axis."""
    return vec(*([0.0] * i + [1.0]))


def cosine(a: Vector, b: Vector) -> float:
    return float(np.dot(a.astype(np.float64), b.astype(np.float64)))


def chunk(
    document_id: str,
    position: int,
    text: str,
    vector: Vector,
    *,
    source: str | None = None,
    heading: str = "",
    chunk_id: str | None = None,
) -> ChunkRecord:
    return ChunkRecord(
        chunk_id=chunk_id or f"{document_id}-{position}",
        document_id=document_id,
        source=source or f"{document_id}.md",
        heading=heading,
        text=text,
        position=position,
        vector=vector,
    )


def document(
    document_id: str,
    chunks: Sequence[ChunkRecord],
    *,
    source: str | None = None,
    content_hash: str | None = None,
    when: datetime = WHEN,
) -> DocumentRecord:
    body = "\n".join(c.text for c in chunks)
    return DocumentRecord(
        document_id=document_id,
        source=source or f"{document_id}.md",
        content_type="text/markdown",
        content_hash=content_hash or hashlib.sha256(body.encode()).hexdigest(),
        chunks=len(chunks),
        bytes=len(body.encode()),
        updated_at=when,
    )


def toward(target: Vector, similarity: float, away: Vector) -> Vector:
    """A unit vector whose cosine with ``target`` is ``similarity``, the rest along ``away``
    (a unit vector orthogonal to ``target`` and to every stored chunk's vector)."""
    rest = float(np.sqrt(max(1.0 - similarity**2, 0.0)))
    mixed = similarity * target.astype(np.float64) + rest * away.astype(np.float64)
    return (mixed / np.linalg.norm(mixed)).astype(np.float32)


class ScriptedEmbedder:
    """An :class:`~switchboard_knowledge.embeddings.base.Embedder` that knows its texts'
    vectors in advance (queries only: the contract suite stores chunks with their vectors)."""

    name = "contract/scripted"
    dimensions = DIMS

    def __init__(self, vectors: Mapping[str, Vector]) -> None:
        self._vectors = dict(vectors)

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.stack([self._vectors[text] for text in texts]).astype(np.float32)

    async def aclose(self) -> None:
        return None
