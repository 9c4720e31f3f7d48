"""WeaviateBackend logic that needs no server: tenant names, ids, filters, schema migration
planning, record mapping, argument checks and how an unreachable server is reported."""

from __future__ import annotations

import asyncio
import inspect
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest
from weaviate.classes.config import DataType, Tokenization
from weaviate.exceptions import (
    WeaviateConnectionError,
    WeaviateInvalidInputError,
    WeaviateQueryError,
)

from switchboard_knowledge.backends.base import BackendUnavailable, KnowledgeBackend
from switchboard_knowledge.backends.weaviate import (
    WeaviateBackend,
    document_from_properties,
    document_properties,
    is_backend_failure,
)
from switchboard_knowledge.backends.weaviate_schema import (
    CHUNK_PROPERTIES,
    DOCUMENT_PROPERTIES,
    VECTOR_NAME,
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

from .kb_helpers import DIMS, WHEN, axis, chunk, document

WEAVIATE_TENANT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
pytestmark = pytest.mark.timeout(30)


# ---------------------------------------------------------------------- tenants and ids


@pytest.mark.parametrize("business_id", ["acme", "bellas-bistro", "b_1", "x" * 64, "0"])
def test_lower_case_business_ids_are_their_own_tenant(business_id: str) -> None:
    assert tenant_name(business_id) == business_id


@pytest.mark.parametrize("business_id", ["Acme", "a.b", "zürich", "x" * 65, "a b", "*"])
def test_other_business_ids_map_to_a_valid_hashed_tenant(business_id: str) -> None:
    name = tenant_name(business_id)
    assert WEAVIATE_TENANT_RE.fullmatch(name)
    assert name.startswith("X")  # never a verbatim (lower-case) name
    assert name == tenant_name(business_id)  # stable across calls and processes


def test_tenant_names_never_collide_on_case() -> None:
    names = {tenant_name(b) for b in ["acme", "Acme", "ACME", "aCme"]}
    assert len(names) == 4
    assert len({n.lower() for n in names}) == 4  # even on case-insensitive storage


def test_empty_business_id_is_refused() -> None:
    with pytest.raises(ValueError):
        tenant_name("")


def test_object_ids_are_deterministic_and_scoped() -> None:
    assert chunk_uuid("acme", "menu-0") == chunk_uuid("acme", "menu-0")
    assert chunk_uuid("acme", "menu-0") != chunk_uuid("bistro", "menu-0")
    assert chunk_uuid("acme", "menu-0") != chunk_uuid("acme", "menu-1")
    assert document_uuid("acme", "menu") != chunk_uuid("acme", "menu")
    # No ambiguity from concatenation.
    assert chunk_uuid("a", "b-c") != chunk_uuid("a-b", "c")
    assert chunk_uuid("acme", "x").version == 5


# ---------------------------------------------------------------------- filters


def test_document_filter() -> None:
    f = document_filter("menu")
    assert f.value == "menu"  # type: ignore[attr-defined]
    assert f.operator.name == "EQUAL"  # type: ignore[attr-defined]
    assert f.target == "document_id"  # type: ignore[attr-defined]


def test_documents_filter() -> None:
    f = documents_filter(("menu", "hours"))
    assert f.value == ["menu", "hours"]  # type: ignore[attr-defined]
    assert f.operator.name == "CONTAINS_ANY"  # type: ignore[attr-defined]


def test_stale_chunks_filter_spares_the_new_revision() -> None:
    f = stale_chunks_filter("menu", "rev-2")
    assert f.operator.name == "AND"  # type: ignore[attr-defined]
    by_doc, by_revision = f.filters  # type: ignore[attr-defined]
    assert (by_doc.target, by_doc.operator.name, by_doc.value) == ("document_id", "EQUAL", "menu")
    assert (by_revision.target, by_revision.operator.name, by_revision.value) == (
        "revision",
        "NOT_EQUAL",
        "rev-2",
    )


# ---------------------------------------------------------------------- schema


def test_properties_are_tokenised_for_their_use() -> None:
    by_name = {spec.name: spec.to_property() for spec in CHUNK_PROPERTIES}
    assert by_name["text"].tokenization is Tokenization.WORD
    assert by_name["text"].indexSearchable is True
    assert by_name["document_id"].tokenization is Tokenization.FIELD
    assert by_name["document_id"].indexSearchable is False
    assert by_name["document_id"].indexFilterable is True
    assert by_name["position"].dataType is DataType.INT
    assert {s.name for s in DOCUMENT_PROPERTIES} >= {"document_id", "updated_at", "content_hash"}


def _existing(specs: tuple) -> dict[str, str]:  # type: ignore[type-arg]
    return {spec.name: spec.data_type.value for spec in specs}


def test_migration_of_a_current_schema_adds_nothing() -> None:
    plan = plan_migration("C", True, _existing(CHUNK_PROPERTIES), CHUNK_PROPERTIES, {"default"})
    assert plan == []


def test_migration_adds_missing_properties() -> None:
    existing = _existing(CHUNK_PROPERTIES)
    del existing["heading"], existing["position"]
    plan = plan_migration("C", True, existing, CHUNK_PROPERTIES, {VECTOR_NAME})
    assert [spec.name for spec in plan] == ["heading", "position"]


def test_migration_matches_names_like_weaviate_does() -> None:
    # Weaviate lower-cases a property's first letter; a name differing in case is the same.
    existing = {"Chunk_id": "text"} | _existing(CHUNK_PROPERTIES[1:])
    assert plan_migration("C", True, existing, CHUNK_PROPERTIES, {VECTOR_NAME}) == []


def test_migration_refuses_a_collection_without_multi_tenancy() -> None:
    with pytest.raises(WeaviateSchemaError, match="multi-tenancy") as info:
        plan_migration("KnowledgeChunk", False, {}, CHUNK_PROPERTIES, {VECTOR_NAME})
    assert isinstance(info.value, BackendUnavailable)
    assert "KnowledgeChunk" in str(info.value)


def test_migration_refuses_a_changed_property_type() -> None:
    existing = _existing(CHUNK_PROPERTIES) | {"position": "text"}
    with pytest.raises(WeaviateSchemaError, match="position"):
        plan_migration("C", True, existing, CHUNK_PROPERTIES, {VECTOR_NAME})


def test_migration_refuses_a_collection_without_our_vector() -> None:
    with pytest.raises(WeaviateSchemaError, match="named vector"):
        plan_migration("C", True, _existing(CHUNK_PROPERTIES), CHUNK_PROPERTIES, set())


@pytest.mark.parametrize("name", ["knowledge", "Knowledge-Chunk", "", "K" * 300, "Kä"])
def test_invalid_collection_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        check_collection_name(name)


# ---------------------------------------------------------------------- records


def test_document_record_round_trip() -> None:
    record = document("menu", [chunk("menu", 0, "x", axis(0))])
    assert document_from_properties(document_properties(record)) == record


def test_naive_datetimes_are_stored_as_utc() -> None:
    naive = document("menu", [], when=datetime(2025, 1, 2, 3, 4, 5))
    props = document_properties(naive)
    assert props["updated_at"] == WHEN
    assert document_from_properties(props | {"updated_at": "2025-01-02T03:04:05Z"}).updated_at == (
        WHEN
    )


# ---------------------------------------------------------------------- the backend object


def test_it_is_a_knowledge_backend() -> None:
    backend: KnowledgeBackend = WeaviateBackend(dimensions=DIMS)
    assert backend.name == "weaviate"
    for name, member in inspect.getmembers(KnowledgeBackend, inspect.iscoroutinefunction):
        assert inspect.iscoroutinefunction(getattr(backend, name)), name
        ours = inspect.signature(getattr(WeaviateBackend, name))
        assert list(ours.parameters) == list(inspect.signature(member).parameters), name


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dimensions": 0},
        {"dimensions": DIMS, "alpha": 1.5},
        {"dimensions": DIMS, "alpha": -0.1},
        {"dimensions": DIMS, "collection": "lower"},
        {"dimensions": DIMS, "collection": "Same", "document_collection": "Same"},
        {"dimensions": DIMS, "http_port": 8080, "grpc_port": 8080},
    ],
)
def test_bad_settings_are_refused(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        WeaviateBackend(**kwargs)


def test_secure_sets_both_channels() -> None:
    backend = WeaviateBackend(dimensions=DIMS, secure=True, http_host="kb.example")
    assert backend.where.startswith("https://kb.example:")
    assert backend._grpc == ("kb.example", 50051, True)


async def test_every_method_needs_start() -> None:
    backend = WeaviateBackend(dimensions=DIMS)
    calls = [
        backend.replace_document("acme", document("d", []), []),
        backend.delete_document("acme", "d"),
        backend.get_document("acme", "d"),
        backend.document_chunks("acme", "d"),
        backend.list_documents("acme"),
        backend.search("acme", axis(0), "x", 3),
        backend.count_chunks("acme"),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailable, match="not started"):
            await call
    await backend.close()  # closing a never-started backend is fine


async def test_wrong_vectors_are_refused_before_any_network() -> None:
    backend = WeaviateBackend(dimensions=DIMS)
    with pytest.raises(ValueError, match="8 dimensions"):
        await backend.search("acme", np.ones(3, dtype=np.float32), "x", 3)
    bad = chunk("d", 0, "x", np.full(DIMS, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        await backend.replace_document("acme", document("d", [bad]), [bad])
    stray = chunk("other", 0, "x", axis(0))
    with pytest.raises(ValueError, match="belongs to"):
        await backend.replace_document("acme", document("d", [stray]), [stray])


def test_failure_classification() -> None:
    assert is_backend_failure(WeaviateConnectionError("down"))
    assert is_backend_failure(WeaviateQueryError("boom", "gRPC"))
    assert is_backend_failure(httpx.ConnectError("refused"))
    assert is_backend_failure(ConnectionRefusedError())
    assert is_backend_failure(TimeoutError())
    assert not is_backend_failure(ValueError("our bug"))
    assert not is_backend_failure(KeyError("our bug"))
    assert not is_backend_failure(WeaviateInvalidInputError("bad argument"))


async def test_guard_maps_failures_and_forgets_the_tenant() -> None:
    backend = WeaviateBackend(dimensions=DIMS)
    backend._tenants.add("acme")
    with pytest.raises(BackendUnavailable, match=r"search failed .*WeaviateQueryError"):
        async with backend._guard("search", "acme"):
            raise WeaviateQueryError("tenant not found", "gRPC")
    assert "acme" not in backend._tenants
    with pytest.raises(ValueError):  # our own bugs are not disguised as outages
        async with backend._guard("search", "acme"):
            raise ValueError("bug")


async def test_guard_bounds_time() -> None:
    backend = WeaviateBackend(dimensions=DIMS, timeout_s=0.05)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="timed out"):
        async with backend._guard("count chunks"):
            await asyncio.Event().wait()  # never set: only the guard ends this
    assert time.monotonic() - started < 2


# ---------------------------------------------------------------------- unreachable servers


@pytest.fixture
def closed_ports() -> Iterator[tuple[int, int]]:
    """Two 127.0.0.1 ports bound but not listening: connecting is refused at once."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(2)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        yield sockets[0].getsockname()[1], sockets[1].getsockname()[1]
    finally:
        for s in sockets:
            s.close()


async def test_start_against_a_closed_port_is_unavailable_quickly(
    closed_ports: tuple[int, int],
) -> None:
    http_port, grpc_port = closed_ports
    backend = WeaviateBackend(
        dimensions=DIMS, http_port=http_port, grpc_port=grpc_port, connect_timeout_s=2.0
    )
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        await backend.start()
    assert time.monotonic() - started < 5
    assert f"127.0.0.1:{http_port}" in str(info.value)
    assert "connect" in str(info.value)
    with pytest.raises(BackendUnavailable, match="not started"):
        await backend.count_chunks("acme")


@pytest.fixture
async def silent_ports() -> AsyncIterator[tuple[int, int]]:
    """Two 127.0.0.1 ports that accept connections and never answer."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    servers = [await asyncio.start_server(hold, "127.0.0.1", 0) for _ in range(2)]
    try:
        yield servers[0].sockets[0].getsockname()[1], servers[1].sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        for server in servers:
            server.close()
            await server.wait_closed()


async def test_start_against_a_silent_server_times_out(silent_ports: tuple[int, int]) -> None:
    http_port, grpc_port = silent_ports
    backend = WeaviateBackend(
        dimensions=DIMS, http_port=http_port, grpc_port=grpc_port, connect_timeout_s=1.0
    )
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{http_port}"):
        await backend.start()
    assert time.monotonic() - started < 5


def test_uuid_namespace_is_fixed() -> None:
    # Changing the namespace would orphan every stored object: pin one known value.
    assert chunk_uuid("acme", "menu-0") == uuid.uuid5(
        uuid.UUID("6d1f4f0e-3c1b-5a52-9a0e-2b7c6f1d8e41"), "chunk\x00acme\x00menu-0"
    )
    assert document_uuid("acme", "menu").version == 5
    assert WHEN.tzinfo is UTC
