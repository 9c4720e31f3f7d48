"""The connection under :class:`~.weaviate.WeaviateBackend`: start and close (with the schema
check), the tenant cache, vector checks, and the guard that bounds every operation in time and
turns Weaviate's failures into :class:`BackendUnavailable`.

Its own module so that :mod:`.weaviate` reads as the contract's operations (writes, reads,
search) without the plumbing each of them sits on. Import from :mod:`.weaviate`, the public face.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, cast

import httpx
import numpy as np
import weaviate
from weaviate.classes.config import Configure, Reconfigure, VectorDistances
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.classes.query import FilterReturn
from weaviate.classes.tenants import Tenant
from weaviate.collections import CollectionAsync
from weaviate.exceptions import WeaviateBaseError, WeaviateInvalidInputError

from .base import BackendUnavailable, Vector
from .fusion import DEFAULT_ALPHA
from .weaviate_schema import (
    CHUNK_PROPERTIES,
    DEFAULT_CHUNK_COLLECTION,
    DEFAULT_DOCUMENT_COLLECTION,
    DOCUMENT_PROPERTIES,
    VECTOR_NAME,
    PropertySpec,
    check_collection_name,
    plan_migration,
    tenant_name,
)

Collection = CollectionAsync[dict[str, Any], None]

#: Weaviate deletes at most QUERY_MAXIMUM_RESULTS (10 000 by default) objects per request;
#: a round that reaches it is followed by another.
_DELETE_CAP = 10_000
#: Longest server message quoted in a BackendUnavailable.
MAX_DETAIL = 300


def is_backend_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means "Weaviate cannot serve this now" (as opposed to a bug of ours)."""
    if isinstance(exc, WeaviateInvalidInputError):  # the client refused our arguments: a bug
        return False
    if isinstance(exc, WeaviateBaseError | httpx.HTTPError | OSError | TimeoutError):
        return True
    module = type(exc).__module__ or ""
    return module.startswith(("grpc", "httpx", "httpcore"))


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > MAX_DETAIL:
        text = text[: MAX_DETAIL - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class WeaviateConnection:
    """The connection, schema and tenants under the backend's operations (its base class)."""

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
