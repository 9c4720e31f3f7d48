"""The production vector backend: Weaviate, through the v4 async client.

How the contract maps onto Weaviate (details and the pure helpers in :mod:`.weaviate_schema`):

* Two collections, both with **native multi-tenancy**, one tenant per business (the tenant
  name is the business id, or a hash of it when it is not a lower-case token):
  ``KnowledgeChunk`` (one object per chunk, our own vector in the named vector ``default``,
  cosine HNSW, no vectorizer module) and ``KnowledgeDocument`` (one object per document: its
  metadata). Tenants are created on first write (explicitly, and cached; auto-creation and
  auto-activation are switched on as well).
* Object ids are ``uuid5(business, chunk_id)`` / ``uuid5(business, document_id)``: retrying a
  write overwrites rather than duplicates.
* :meth:`WeaviateBackend.start` creates the collections if missing, otherwise adds missing
  properties and refuses (:class:`~.weaviate_schema.WeaviateSchemaError`) a collection without
  multi-tenancy, without our ``default`` vector, or with a property of the wrong type.
* ``search`` asks for two candidate sets at once, the nearest chunks by our vector
  (``near_vector``; cosine similarity = ``1 - distance``) and the best BM25 matches of the
  text (``bm25`` over ``heading`` and ``text``, with each match's stored vector so that its
  exact cosine is known), and scores their union on the client with :func:`.fusion.fuse`,
  the function the embedded backend uses: ``alpha * cosine + (1 - alpha) * saturated BM25``,
  or the plain cosine when the text matches nothing. The score is absolute (the same chunk
  scores the same whatever else is stored), so one relevance threshold serves both backends.
  Weaviate's own hybrid query is not used: its fusions rescale each query's scores (relative
  score: min-max per query), which puts the top hit near 1.0 whatever it is.

  The lexical side differs by implementation: Weaviate scores BM25F with its English stop
  words removed, the embedded backend FTS5's BM25 over the query's rarer words (both with
  k1 = 1.2 and b = 0.75). That side is only 10 % of the score (default ``alpha`` 0.9) and
  saturated, so the difference is bounded; still, this backend's threshold is to be
  recalibrated with ``python -m switchboard_knowledge.calibrate --backend weaviate`` where
  Weaviate runs (:mod:`switchboard_knowledge.relevance` says what holds until then).
* ``replace_document`` writes the new chunks first (upserts by id, tagged with a fresh
  ``revision``), then deletes the document's chunks of any other revision, then writes the
  document record: no window in which the document has no chunks, and nothing stale once it
  returns. It returns how many chunks the previous version had.
* Every server or network failure, and every timeout, surfaces as :class:`BackendUnavailable`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from weaviate.classes.data import DataObject
from weaviate.classes.query import FilterReturn, MetadataQuery, Sort

from .base import (
    BackendUnavailable,
    ChunkRecord,
    DocumentRecord,
    ScoredChunk,
    Vector,
)
from .fusion import candidate_count
from .weaviate_connection import MAX_DETAIL, Collection, WeaviateConnection, is_backend_failure
from .weaviate_ranking import Found, cosine_from_distance, rank, stored_cosine
from .weaviate_records import (
    chunk_properties,
    document_from_properties,
    document_properties,
    int_property,
    scored_chunk,
)
from .weaviate_schema import (
    BM25_PROPERTIES,
    DOCUMENT_PROPERTIES,
    VECTOR_NAME,
    WeaviateSchemaError,
    chunk_uuid,
    document_filter,
    document_uuid,
    documents_filter,
    stale_chunks_filter,
    tenant_name,
)

# The public face: the backend and the helpers its tests use, wherever they now live.
__all__ = [
    "BackendUnavailable",
    "WeaviateBackend",
    "WeaviateSchemaError",
    "both",
    "chunk_properties",
    "cosine_from_distance",
    "document_from_properties",
    "document_properties",
    "is_backend_failure",
    "rank",
    "scored_chunk",
    "stored_cosine",
]

A = TypeVar("A")
B = TypeVar("B")

#: Objects per insert request (one gRPC batch each).
_BATCH = 200
#: Objects per page when reading a document's chunks (offset paging; Weaviate caps
#: offset + limit at QUERY_MAXIMUM_RESULTS, 10 000 by default).
_PAGE = 1000
#: What reads ask for (``revision`` is bookkeeping, never returned).
_CHUNK_FIELDS = ["chunk_id", "document_id", "source", "heading", "text", "position"]
_DOCUMENT_FIELDS = [spec.name for spec in DOCUMENT_PROPERTIES]


async def both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Both results, awaited concurrently. When one fails, the other is cancelled and the
    failure raised (``gather`` would leave the other running, its outcome never read)."""
    one, two = asyncio.ensure_future(first), asyncio.ensure_future(second)
    try:
        await asyncio.wait((one, two), return_when=asyncio.FIRST_EXCEPTION)
    finally:  # also when we are cancelled ourselves (the guard's timeout)
        for task in (one, two):
            task.cancel()  # a finished task ignores this
        await asyncio.gather(one, two, return_exceptions=True)
    for task in (one, two):
        if not task.cancelled() and (failure := task.exception()) is not None:
            raise failure
    return one.result(), two.result()


class WeaviateBackend(WeaviateConnection):
    """:class:`~.base.KnowledgeBackend` on a Weaviate server (see the module docstring).

    ``grpc_host`` defaults to ``http_host``; ``secure`` (when given) sets both ``http_secure``
    and ``grpc_secure``. ``timeout_s`` bounds every operation, ``connect_timeout_s`` the
    connection in :meth:`start`; exceeding either raises :class:`BackendUnavailable`.
    """

    name = "weaviate"

    # ------------------------------------------------------------------ writes

    async def replace_document(
        self, business_id: str, document: DocumentRecord, chunks: Sequence[ChunkRecord]
    ) -> int:
        doc_id = document.document_id
        revision = uuid.uuid4().hex
        objects: list[DataObject[dict[str, Any], None]] = []
        new_ids: list[uuid.UUID] = []
        for chunk in chunks:
            if chunk.document_id != doc_id:
                raise ValueError(f"chunk {chunk.chunk_id!r} belongs to {chunk.document_id!r}")
            new_ids.append(chunk_uuid(business_id, chunk.chunk_id))
            objects.append(
                DataObject(
                    properties=chunk_properties(chunk) | {"revision": revision},
                    uuid=new_ids[-1],
                    vector={VECTOR_NAME: self._vector(chunk.vector, f"chunk {chunk.chunk_id!r}")},
                )
            )
        if len(set(new_ids)) != len(new_ids):
            raise ValueError(f"document {doc_id!r}: duplicate chunk ids")
        tenant = tenant_name(business_id)
        lock = self._locks.setdefault((tenant, doc_id), asyncio.Lock())
        async with lock, self._guard(f"replace document {doc_id!r}", business_id):
            chunk_col, doc_col = self._collections()
            await self._ensure_tenant(tenant)
            chunk_col = chunk_col.with_tenant(tenant)
            doc_col = doc_col.with_tenant(tenant)
            previous = await self._count(chunk_col, document_filter(doc_id))
            for start in range(0, len(objects), _BATCH):
                result = await chunk_col.data.insert_many(objects[start : start + _BATCH])
                if result.has_errors:
                    first = next(iter(result.errors.values()))
                    raise BackendUnavailable(
                        f"Weaviate at {self.where}: storing chunks of {doc_id!r} failed for "
                        f"{len(result.errors)} objects (first: {first.message[:MAX_DETAIL]})"
                    )
            await self._delete(
                chunk_col, stale_chunks_filter(doc_id, revision), f"old chunks of {doc_id!r}"
            )
            result = await doc_col.data.insert_many(
                [
                    DataObject(
                        properties=document_properties(document),
                        uuid=document_uuid(business_id, doc_id),
                    )
                ]
            )
            if result.has_errors:
                first = next(iter(result.errors.values()))
                raise BackendUnavailable(
                    f"Weaviate at {self.where}: storing document {doc_id!r} failed "
                    f"({first.message[:MAX_DETAIL]})"
                )
        return previous

    async def delete_document(self, business_id: str, document_id: str) -> bool:
        tenant = tenant_name(business_id)
        lock = self._locks.setdefault((tenant, document_id), asyncio.Lock())
        async with lock, self._guard(f"delete document {document_id!r}", business_id):
            chunk_col, doc_col = self._collections()
            if not await self._has_tenant(tenant):
                return False
            removed = await self._delete(
                chunk_col.with_tenant(tenant),
                document_filter(document_id),
                f"chunks of {document_id!r}",
            )
            existed = await doc_col.with_tenant(tenant).data.delete_by_id(
                document_uuid(business_id, document_id)
            )
        return bool(existed) or removed > 0

    # ------------------------------------------------------------------ reads

    async def get_document(self, business_id: str, document_id: str) -> DocumentRecord | None:
        tenant = tenant_name(business_id)
        async with self._guard(f"get document {document_id!r}", business_id):
            _, doc_col = self._collections()
            if not await self._has_tenant(tenant):
                return None
            obj = await doc_col.with_tenant(tenant).query.fetch_object_by_id(
                document_uuid(business_id, document_id), return_properties=_DOCUMENT_FIELDS
            )
        return None if obj is None else document_from_properties(obj.properties)

    async def list_documents(self, business_id: str) -> list[DocumentRecord]:
        tenant = tenant_name(business_id)
        records: list[DocumentRecord] = []
        async with self._guard("list documents", business_id):
            _, doc_col = self._collections()
            if not await self._has_tenant(tenant):
                return []
            async for obj in doc_col.with_tenant(tenant).iterator(
                return_properties=_DOCUMENT_FIELDS
            ):
                records.append(document_from_properties(obj.properties))
        return sorted(records, key=lambda record: record.document_id)

    async def document_chunks(self, business_id: str, document_id: str) -> list[ScoredChunk]:
        tenant = tenant_name(business_id)
        found: list[tuple[int, ScoredChunk]] = []
        async with self._guard(f"read chunks of {document_id!r}", business_id):
            chunk_col, _ = self._collections()
            if not await self._has_tenant(tenant):
                return []
            chunk_col = chunk_col.with_tenant(tenant)
            offset = 0
            while True:
                page = await chunk_col.query.fetch_objects(
                    filters=document_filter(document_id),
                    sort=Sort.by_property("position", ascending=True),
                    limit=_PAGE,
                    offset=offset,
                    return_properties=_CHUNK_FIELDS,
                )
                for obj in page.objects:
                    found.append(
                        (
                            int_property(obj.properties, "position"),
                            scored_chunk(obj.properties, 0.0),
                        )
                    )
                if len(page.objects) < _PAGE:
                    break
                offset += _PAGE
        found.sort(key=lambda item: item[0])  # the server sorted; keep it certain
        return [chunk for _, chunk in found]

    async def search(
        self,
        business_id: str,
        vector: Vector,
        text: str,
        top_k: int,
        document_ids: Sequence[str] | None = None,
    ) -> list[ScoredChunk]:
        query_vector = self._vector(vector, "query")
        if top_k <= 0 or (document_ids is not None and len(document_ids) == 0):
            return []
        filters = documents_filter(document_ids) if document_ids is not None else None
        tenant = tenant_name(business_id)
        async with self._guard("search", business_id):
            chunk_col, _ = self._collections()
            if not await self._has_tenant(tenant):
                return []
            chunk_col = chunk_col.with_tenant(tenant)
            # As the embedded backend: top_k by vector, more by BM25 (their cosines known).
            if self.alpha < 1.0 and text.strip():
                nearest, lexical = await both(
                    self._nearest(chunk_col, query_vector, top_k, filters),
                    self._matching(chunk_col, text, candidate_count(top_k), filters),
                )
            else:
                nearest, lexical = await self._nearest(chunk_col, query_vector, top_k, filters), []
        return rank(nearest, lexical, query_vector, self.alpha, top_k)

    @staticmethod
    async def _nearest(
        chunks: Collection, vector: list[float], limit: int, filters: FilterReturn | None
    ) -> Sequence[Found]:
        result = await chunks.query.near_vector(
            vector,
            target_vector=VECTOR_NAME,
            limit=limit,
            filters=filters,
            return_metadata=MetadataQuery(distance=True),
            return_properties=_CHUNK_FIELDS,
        )
        return result.objects

    @staticmethod
    async def _matching(
        chunks: Collection, text: str, limit: int, filters: FilterReturn | None
    ) -> Sequence[Found]:
        result = await chunks.query.bm25(
            text,
            query_properties=BM25_PROPERTIES,
            limit=limit,
            filters=filters,
            include_vector=[VECTOR_NAME],
            return_metadata=MetadataQuery(score=True),
            return_properties=_CHUNK_FIELDS,
        )
        return result.objects

    async def count_chunks(self, business_id: str) -> int:
        tenant = tenant_name(business_id)
        async with self._guard("count chunks", business_id):
            chunk_col, _ = self._collections()
            if not await self._has_tenant(tenant):
                return 0
            return await self._count(chunk_col.with_tenant(tenant))
