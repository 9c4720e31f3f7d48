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
import weakref
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import httpx
import numpy as np
import weaviate
from weaviate.classes.config import Configure, Reconfigure, VectorDistances
from weaviate.classes.data import DataObject
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.classes.query import FilterReturn, MetadataQuery, Sort
from weaviate.classes.tenants import Tenant
from weaviate.collections import CollectionAsync
from weaviate.exceptions import WeaviateBaseError, WeaviateInvalidInputError
from weaviate.outputs.query import Object

from .base import (
    BackendUnavailable,
    ChunkRecord,
    DocumentRecord,
    ScoredChunk,
    Vector,
)
from .fusion import DEFAULT_ALPHA, candidate_count, fuse
from .weaviate_schema import (
    BM25_PROPERTIES,
    CHUNK_PROPERTIES,
    DEFAULT_CHUNK_COLLECTION,
    DEFAULT_DOCUMENT_COLLECTION,
    DOCUMENT_PROPERTIES,
    VECTOR_NAME,
    PropertySpec,
    WeaviateSchemaError,
    check_collection_name,
    chunk_uuid,
    document_filter,
    document_uuid,
    documents_filter,
    plan_migration,
    stale_chunks_filter,
    tenant_name,
)

__all__ = ["BackendUnavailable", "WeaviateBackend", "WeaviateSchemaError"]

Collection = CollectionAsync[dict[str, Any], None]
Found = Object[dict[str, Any], None]
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
#: Weaviate deletes at most QUERY_MAXIMUM_RESULTS (10 000 by default) objects per request;
#: a round that reaches it is followed by another.
_DELETE_CAP = 10_000
#: Longest server message quoted in a BackendUnavailable.
_MAX_DETAIL = 300


def is_backend_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means "Weaviate cannot serve this now" (as opposed to a bug of ours)."""
    if isinstance(exc, WeaviateInvalidInputError):  # the client refused our arguments: a bug
        return False
    if isinstance(exc, WeaviateBaseError | httpx.HTTPError | OSError | TimeoutError):
        return True
    module = type(exc).__module__ or ""
    return module.startswith(("grpc", "httpx", "httpcore"))


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


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class WeaviateBackend:
    """:class:`~.base.KnowledgeBackend` on a Weaviate server (see the module docstring).

    ``grpc_host`` defaults to ``http_host``; ``secure`` (when given) sets both ``http_secure``
    and ``grpc_secure``. ``timeout_s`` bounds every operation, ``connect_timeout_s`` the
    connection in :meth:`start`; exceeding either raises :class:`BackendUnavailable`.
    """

    name = "weaviate"

    def __init__(
        self,
        *,
        dimensions: int,
        http_host: str = "127.0.0.1",
        http_port: int = 8080,
        http_secure: bool = False,
        grpc_host: str | None = None,
        grpc_port: int = 50051,
        grpc_secure: bool = False,
        secure: bool | None = None,
        api_key: str | None = None,
        collection: str = DEFAULT_CHUNK_COLLECTION,
        document_collection: str = DEFAULT_DOCUMENT_COLLECTION,
        alpha: float = DEFAULT_ALPHA,
        timeout_s: float = 15.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        if dimensions <= 0:
            raise ValueError("dimensions must be positive")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError("alpha must be within [0, 1] (0 = BM25 only, 1 = vector only)")
        if collection == document_collection:
            raise ValueError("the chunk and document collections must differ")
        self.dimensions = dimensions
        self.alpha = alpha
        self.collection = check_collection_name(collection)
        self.document_collection = check_collection_name(document_collection)
        if secure is not None:  # shorthand: TLS (or not) on both channels
            http_secure = grpc_secure = secure
        self._http = (http_host, http_port, http_secure)
        self._grpc = (grpc_host or http_host, grpc_port, grpc_secure)
        if self._http[:2] == self._grpc[:2]:
            raise ValueError("Weaviate's HTTP and gRPC endpoints must differ (host or port)")
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._client: weaviate.WeaviateAsyncClient | None = None
        self._chunks: Collection | None = None
        self._documents: Collection | None = None
        self._tenants: set[str] = set()  # known to exist in both collections
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @property
    def where(self) -> str:
        host, port, secure = self._http
        return f"{'https' if secure else 'http'}://{host}:{port} (gRPC port {self._grpc[1]})"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._client is not None:
            return
        http_host, http_port, http_secure = self._http
        grpc_host, grpc_port, grpc_secure = self._grpc
        timeout = max(1, round(self._timeout_s))
        client = weaviate.use_async_with_custom(
            http_host=http_host,
            http_port=http_port,
            http_secure=http_secure,
            grpc_host=grpc_host,
            grpc_port=grpc_port,
            grpc_secure=grpc_secure,
            auth_credentials=Auth.api_key(self._api_key) if self._api_key else None,
            additional_config=AdditionalConfig(
                timeout=Timeout(init=self._connect_timeout_s, query=timeout, insert=timeout)
            ),
        )
        try:
            async with self._guard("connect", timeout_s=self._connect_timeout_s + 1.0):
                await client.connect()
            async with self._guard("create or migrate the schema"):
                self._chunks = await self._ensure_collection(
                    client, self.collection, CHUNK_PROPERTIES
                )
                self._documents = await self._ensure_collection(
                    client, self.document_collection, DOCUMENT_PROPERTIES
                )
        except BaseException:
            self._chunks = self._documents = None
            with suppress(Exception):
                await client.close()
            raise
        self._client = client

    async def close(self) -> None:
        client, self._client = self._client, None
        self._chunks = self._documents = None
        self._tenants.clear()
        if client is not None:
            with suppress(Exception):
                await client.close()

    async def _ensure_collection(
        self, client: weaviate.WeaviateAsyncClient, name: str, specs: Sequence[PropertySpec]
    ) -> Collection:
        if not await client.collections.exists(name):
            try:
                await client.collections.create(
                    name,
                    properties=[spec.to_property() for spec in specs],
                    multi_tenancy_config=Configure.multi_tenancy(
                        enabled=True, auto_tenant_creation=True, auto_tenant_activation=True
                    ),
                    vector_config=Configure.Vectors.self_provided(
                        name=VECTOR_NAME,
                        vector_index_config=Configure.VectorIndex.hnsw(
                            distance_metric=VectorDistances.COSINE
                        ),
                    ),
                )
            except WeaviateBaseError:
                # Another replica may have created it meanwhile; anything else re-raises.
                if not await client.collections.exists(name):
                    raise
        collection = cast(Collection, client.collections.use(name))
        config = await collection.config.get()
        missing = plan_migration(
            name,
            multi_tenancy_enabled=config.multi_tenancy_config.enabled,
            existing={prop.name: prop.data_type.value for prop in config.properties},
            wanted=specs,
            vector_names=set(config.vector_config or {}),
        )
        for spec in missing:
            await collection.config.add_property(spec.to_property())
        mt = config.multi_tenancy_config
        if not (mt.auto_tenant_creation and mt.auto_tenant_activation):
            await collection.config.update(
                multi_tenancy_config=Reconfigure.multi_tenancy(
                    auto_tenant_creation=True, auto_tenant_activation=True
                )
            )
        return collection

    # ------------------------------------------------------------------ plumbing

    @asynccontextmanager
    async def _guard(
        self, what: str, business_id: str | None = None, timeout_s: float | None = None
    ) -> AsyncIterator[None]:
        """Bound the block in time and turn backend failures into BackendUnavailable."""
        limit = self._timeout_s if timeout_s is None else timeout_s
        try:
            async with asyncio.timeout(limit):
                yield
        except BackendUnavailable:
            raise
        except TimeoutError as exc:
            raise BackendUnavailable(
                f"Weaviate at {self.where}: {what} timed out after {limit:g}s"
            ) from exc
        except Exception as exc:
            if not is_backend_failure(exc):
                raise
            if business_id is not None:
                # The tenant may have been removed behind our back: look again next time.
                self._tenants.discard(tenant_name(business_id))
            raise BackendUnavailable(
                f"Weaviate at {self.where}: {what} failed ({_detail(exc)})"
            ) from exc

    def _collections(self) -> tuple[Collection, Collection]:
        if self._chunks is None or self._documents is None:
            raise BackendUnavailable("the Weaviate backend is not started (call start() first)")
        return self._chunks, self._documents

    async def _has_tenant(self, tenant: str) -> bool:
        if tenant in self._tenants:
            return True
        chunks, documents = self._collections()
        found = await chunks.tenants.exists(tenant) and await documents.tenants.exists(tenant)
        if found:
            self._tenants.add(tenant)
        return found

    async def _ensure_tenant(self, tenant: str) -> None:
        if tenant in self._tenants:
            return
        for collection in self._collections():
            if await collection.tenants.exists(tenant):
                continue
            try:
                await collection.tenants.create([Tenant(name=tenant)])
            except WeaviateBaseError:
                if not await collection.tenants.exists(tenant):  # lost a race: fine
                    raise
        self._tenants.add(tenant)

    def _vector(self, vector: Vector, what: str) -> list[float]:
        array = np.asarray(vector, dtype=np.float32)
        if array.shape != (self.dimensions,):
            raise ValueError(
                f"{what}: expected a vector of {self.dimensions} dimensions, got {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{what}: vector has non-finite values")
        return cast(list[float], array.astype(np.float64).tolist())

    @staticmethod
    async def _count(collection: Collection, filters: FilterReturn | None = None) -> int:
        result = await collection.aggregate.over_all(filters=filters, total_count=True)
        return int(result.total_count or 0)

    @staticmethod
    async def _delete(collection: Collection, filters: FilterReturn, what: str) -> int:
        """Delete everything ``filters`` matches (in rounds: one round is capped server-side)."""
        total = 0
        for _ in range(1000):
            result = await collection.data.delete_many(where=filters)
            if result.failed:
                raise BackendUnavailable(
                    f"Weaviate: {what}: {result.failed} of {result.matches} deletions failed"
                )
            total += result.successful
            capped = result.successful >= _DELETE_CAP or result.matches > result.successful
            if result.successful == 0 or not capped:
                return total
        raise BackendUnavailable(f"Weaviate: {what}: deletion did not converge")

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
                        f"{len(result.errors)} objects (first: {first.message[:_MAX_DETAIL]})"
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
                    f"({first.message[:_MAX_DETAIL]})"
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
                        (_int(obj.properties, "position"), scored_chunk(obj.properties, 0.0))
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


# ---------------------------------------------------------------------- ranking


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
        key=lambda key: (-scores[key], -cosine.get(key, 0.0), _str(properties[key], "chunk_id")),
    )
    return [scored_chunk(properties[key], scores[key]) for key in best[:top_k]]


# ---------------------------------------------------------------------- record <-> properties


def chunk_properties(chunk: ChunkRecord) -> dict[str, Any]:
    return {
        "chunk_id": chunk.chunk_id,
        "document_id": chunk.document_id,
        "source": chunk.source,
        "heading": chunk.heading,
        "text": chunk.text,
        "position": chunk.position,
    }


def document_properties(document: DocumentRecord) -> dict[str, Any]:
    updated = document.updated_at
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    return {
        "document_id": document.document_id,
        "source": document.source,
        "content_type": document.content_type,
        "content_hash": document.content_hash,
        "chunk_count": document.chunks,
        "byte_count": document.bytes,
        "updated_at": updated,
    }


def _str(props: Mapping[str, Any], key: str) -> str:
    value = props.get(key)
    return "" if value is None else str(value)


def _int(props: Mapping[str, Any], key: str) -> int:
    value = props.get(key)
    return 0 if value is None else int(value)


def _datetime(props: Mapping[str, Any], key: str) -> datetime:
    value = props.get(key)
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        return datetime.fromtimestamp(0, UTC)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def document_from_properties(props: Mapping[str, Any]) -> DocumentRecord:
    return DocumentRecord(
        document_id=_str(props, "document_id"),
        source=_str(props, "source"),
        content_type=_str(props, "content_type"),
        content_hash=_str(props, "content_hash"),
        chunks=_int(props, "chunk_count"),
        bytes=_int(props, "byte_count"),
        updated_at=_datetime(props, "updated_at"),
    )


def scored_chunk(props: Mapping[str, Any], score: float) -> ScoredChunk:
    return ScoredChunk(
        chunk_id=_str(props, "chunk_id"),
        document_id=_str(props, "document_id"),
        source=_str(props, "source"),
        heading=_str(props, "heading"),
        text=_str(props, "text"),
        score=score,
    )
