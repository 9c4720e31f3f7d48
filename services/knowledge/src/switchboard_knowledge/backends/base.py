"""The contract every vector backend keeps (checked by one shared test suite)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


class BackendUnavailable(RuntimeError):
    """The backend cannot be reached or used right now (a protocol 503, not a crash)."""


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    document_id: str
    source: str
    content_type: str
    content_hash: str
    chunks: int
    bytes: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """One chunk to store. ``chunk_id`` is unique within the business."""

    chunk_id: str
    document_id: str
    source: str
    heading: str
    text: str
    position: int
    vector: Vector  # float32, L2-normalised, the backend's dimension


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    chunk_id: str
    document_id: str
    source: str
    heading: str
    text: str
    score: float  # higher is better; cosine similarity for vector-only search


class KnowledgeBackend(Protocol):
    """All methods are tenant-scoped by ``business_id``: one business never sees another's data.

    Implementations must be safe to call concurrently from one event loop.
    """

    name: str

    async def start(self) -> None:
        """Connect, create or migrate the schema. Raises :class:`BackendUnavailable`."""

    async def close(self) -> None: ...

    async def replace_document(
        self, business_id: str, document: DocumentRecord, chunks: Sequence[ChunkRecord]
    ) -> int:
        """Store ``document`` with exactly ``chunks``, removing the previous version's chunks;
        returns how many old chunks were removed. Nothing stale may stay searchable."""

    async def delete_document(self, business_id: str, document_id: str) -> bool: ...

    async def get_document(self, business_id: str, document_id: str) -> DocumentRecord | None: ...

    async def document_chunks(self, business_id: str, document_id: str) -> list[ScoredChunk]:
        """The stored chunks of a document, in order (score 0)."""

    async def list_documents(self, business_id: str) -> list[DocumentRecord]: ...

    async def search(
        self,
        business_id: str,
        vector: Vector,
        text: str,
        top_k: int,
        document_ids: Sequence[str] | None = None,
    ) -> list[ScoredChunk]:
        """Best ``top_k`` chunks of this business (hybrid where the backend supports it)."""

    async def count_chunks(self, business_id: str) -> int: ...
