"""The knowledge domain: ingest (extract → chunk → embed → store) and query, per business.

Knows nothing of NATS or HTTP; both edges call it and map its errors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from switchboard_common.business import BusinessLookup
from switchboard_common.knowledge import (
    DocumentInfo,
    IngestReply,
    KnowledgeHit,
    KnowledgeQuery,
    KnowledgeQueryReply,
)

from .backends.base import (
    BackendUnavailable,
    ChunkRecord,
    DocumentRecord,
    KnowledgeBackend,
    ScoredChunk,
)
from .documents import (
    DocumentError,
    TextChunk,
    chunk_sections,
    content_hash,
    count_tokens,
    document_id_for,
    extract_sections,
)
from .embeddings.base import Embedder, EmbeddingUnavailable
from .errors import BadRequest, DocumentNotFound, Unavailable, UnknownBusiness
from .fillers import strip_fillers
from .memory import release_free_memory
from .metrics import CHUNKS_TRUNCATED
from .passages import merge_sections, pool_size

log = logging.getLogger(__name__)

#: Chunks embedded per batch while ingesting (progress is reported between batches).
EMBED_BATCH = 64

Progress = Callable[[int, int], None]


class TokenCounter(Protocol):
    """The embedder's tokenizer: its token count of a text, and the longest it embeds whole."""

    window: int

    def __call__(self, text: str) -> int: ...


def document_info(record: DocumentRecord) -> DocumentInfo:
    return DocumentInfo(
        document_id=record.document_id,
        source=record.source,
        content_type=record.content_type,  # type: ignore[arg-type]
        content_hash=record.content_hash,
        chunks=record.chunks,
        bytes=record.bytes,
        updated_at=record.updated_at,
    )


class KnowledgeService:
    def __init__(
        self,
        backend: KnowledgeBackend,
        embedder: Embedder,
        directory: BusinessLookup,
        chunk_max_tokens: int = 200,
        chunk_overlap_tokens: int = 40,
        token_counter: TokenCounter | None = None,
        relevance_threshold: float | None = None,
        keyword_text: Callable[[str], str] | None = strip_fillers,
        merge_sections: bool = True,
    ) -> None:
        """``token_counter`` counts tokens as the embedder does (with its ``window``): chunks
        are then sized to it exactly, and any that would still be truncated are counted.
        ``relevance_threshold``: hits scoring below it are not answers; when none passes, the
        reply says ``no_answer`` (None: every hit passes, no judgement is made).
        ``keyword_text``: what the keyword side searches for, made from the caller's words
        (default: without spoken fillers); None: the words as they came.
        ``merge_sections``: a section's matching chunks come back as one passage
        (:mod:`.passages`), so ``top_k`` hits are ``top_k`` different sections."""
        self._keyword_text = keyword_text
        self.merge_sections = merge_sections
        self.relevance_threshold = relevance_threshold
        self.backend = backend
        self.embedder = embedder
        self._directory = directory
        self._max_tokens = chunk_max_tokens
        self._overlap = chunk_overlap_tokens
        self._counter = token_counter
        if token_counter is not None:
            self._max_tokens = min(chunk_max_tokens, token_counter.window)

    def _pool(self, top_k: int) -> int:
        return pool_size(top_k) if self.merge_sections else top_k

    def _known(self, business_id: str) -> None:
        if self._directory.get(business_id) is None:
            raise UnknownBusiness(f"unknown business {business_id!r}")

    async def query(self, query: KnowledgeQuery) -> KnowledgeQueryReply:
        self._known(query.business_id)
        started = time.perf_counter()
        try:
            vector = (await self.embedder.embed([query.text]))[0]
        except EmbeddingUnavailable as exc:
            raise Unavailable(f"embeddings unavailable: {exc}") from exc
        embedded = time.perf_counter()
        try:
            text = self._keyword_text(query.text) if self._keyword_text else query.text
            found = await self.backend.search(
                query.business_id, vector, text, self._pool(query.top_k), query.document_ids
            )
        except BackendUnavailable as exc:
            raise Unavailable(f"vector backend unavailable: {exc}") from exc
        done = time.perf_counter()
        threshold = self.relevance_threshold
        passing = [c for c in found if threshold is None or c.score >= threshold]
        if self.merge_sections:
            passing = merge_sections(passing, query.top_k)
        return KnowledgeQueryReply(
            hits=[_hit(c) for c in passing],
            no_answer=not passing,
            relevance_threshold=threshold,
            embed_ms=(embedded - started) * 1000.0,
            search_ms=(done - embedded) * 1000.0,
        )

    async def ingest(
        self,
        business_id: str,
        source: str,
        content_type: str,
        data: bytes,
        document_id: str | None = None,
        progress: Progress | None = None,
    ) -> IngestReply:
        """Add or replace a document. The same bytes again change nothing (content hash);
        new bytes replace every chunk of the old version, so nothing stale stays behind."""
        self._known(business_id)
        doc_id = document_id or document_id_for(source)
        digest = content_hash(data)
        try:
            existing = await self.backend.get_document(business_id, doc_id)
        except BackendUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        if existing is not None and existing.content_hash == digest:
            return IngestReply(document=document_info(existing), unchanged=True, replaced_chunks=0)
        try:
            sections = await asyncio.to_thread(extract_sections, content_type, data)
            chunks = chunk_sections(
                sections, self._max_tokens, self._overlap, self._counter or count_tokens
            )
        except DocumentError as exc:
            raise BadRequest(str(exc)) from exc
        if not chunks:
            raise BadRequest(f"{source}: no text to index")
        truncated = self._truncated(chunks)
        records: list[ChunkRecord] = []
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[start : start + EMBED_BATCH]
            try:
                vectors = await self.embedder.embed([c.embedding_text for c in batch])
            except EmbeddingUnavailable as exc:
                raise Unavailable(f"embeddings unavailable: {exc}") from exc
            records += [
                ChunkRecord(
                    chunk_id=f"{doc_id}-{c.position}",
                    document_id=doc_id,
                    source=source,
                    heading=c.heading,
                    text=c.text,
                    position=c.position,
                    vector=vector,
                )
                for c, vector in zip(batch, vectors, strict=True)
            ]
            if progress is not None:
                progress(len(records), len(chunks))
        record = DocumentRecord(
            document_id=doc_id,
            source=source,
            content_type=content_type,
            content_hash=digest,
            chunks=len(records),
            bytes=len(data),
            updated_at=datetime.now(UTC),
        )
        try:
            removed = await self.backend.replace_document(business_id, record, records)
        except BackendUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        log.info("%s/%s: %d chunks (%d replaced)", business_id, doc_id, len(records), removed)
        del sections, chunks, records
        # RSS back near idle once an upload is stored, not at the ingest's peak.
        await asyncio.to_thread(release_free_memory)
        return IngestReply(
            document=document_info(record),
            unchanged=False,
            replaced_chunks=removed,
            truncated_chunks=truncated,
        )

    def _truncated(self, chunks: list[TextChunk]) -> int:
        """Chunks longer than the embedder's window (their tail would not be embedded)."""
        if self._counter is None:
            return 0
        counter = self._counter
        over = sum(1 for c in chunks if counter(c.embedding_text) > counter.window)
        if over:
            CHUNKS_TRUNCATED.inc(over)
            log.warning("%d of %d chunks exceed the embedder's window", over, len(chunks))
        return over

    async def delete(self, business_id: str, document_id: str) -> bool:
        self._known(business_id)
        try:
            return await self.backend.delete_document(business_id, document_id)
        except BackendUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    async def documents(self, business_id: str) -> list[DocumentInfo]:
        self._known(business_id)
        try:
            return [document_info(r) for r in await self.backend.list_documents(business_id)]
        except BackendUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    async def document(
        self, business_id: str, document_id: str
    ) -> tuple[DocumentInfo, list[KnowledgeHit]]:
        self._known(business_id)
        try:
            record = await self.backend.get_document(business_id, document_id)
            if record is None:
                raise DocumentNotFound(f"no document {document_id!r} for {business_id!r}")
            chunks = await self.backend.document_chunks(business_id, document_id)
        except BackendUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return document_info(record), [_hit(c) for c in chunks]

    async def stats(self, business_id: str) -> dict[str, int]:
        self._known(business_id)
        try:
            docs = await self.backend.list_documents(business_id)
            chunks = await self.backend.count_chunks(business_id)
        except BackendUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return {"documents": len(docs), "chunks": chunks, "bytes": sum(d.bytes for d in docs)}


def _hit(chunk: ScoredChunk) -> KnowledgeHit:
    return KnowledgeHit(
        chunk_id=chunk.chunk_id,
        document_id=chunk.document_id,
        source=chunk.source,
        heading=chunk.heading,
        text=chunk.text,
        score=chunk.score,
    )
