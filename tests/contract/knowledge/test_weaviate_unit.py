"""WeaviateBackend logic that needs no server: tenant names, ids, filters, schema migration
planning, record mapping, how search results are ranked and scored, the queries a search
sends, argument checks and how an unreachable server is reported."""

from __future__ import annotations

import asyncio
import inspect
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest
from weaviate.classes.config import DataType, Tokenization
from weaviate.exceptions import (
    WeaviateConnectionError,
    WeaviateInvalidInputError,
    WeaviateQueryError,
)
from weaviate.outputs.query import MetadataReturn, Object

from switchboard_knowledge.backends.base import BackendUnavailable, KnowledgeBackend, Vector
from switchboard_knowledge.backends.fusion import DEFAULT_ALPHA, candidate_count, fuse, saturate
from switchboard_knowledge.backends.weaviate import (
    WeaviateBackend,
    both,
    chunk_properties,
    cosine_from_distance,
    document_from_properties,
    document_properties,
    is_backend_failure,
    rank,
    stored_cosine,
)
from switchboard_knowledge.backends.weaviate_schema import (
    BM25_PROPERTIES,
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

from .kb_helpers import DIMS, WHEN, axis, chunk, cosine, document, vec

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


# ---------------------------------------------------------------------- ranking

Found = Object[dict[str, Any], None]


def found(
    chunk_id: str,
    *,
    distance: float | None = None,
    bm25: float | None = None,
    stored: Vector | None = None,
    heading: str = "",
    source: str = "guide.md",
) -> Found:
    """A search result as the client returns it: properties, metadata, maybe the vector."""
    record = chunk("guide", 0, f"text of {chunk_id}", axis(0), source=source, heading=heading)
    return Object(
        uuid=chunk_uuid("acme", chunk_id),
        metadata=MetadataReturn(distance=distance, score=bm25),
        properties=chunk_properties(record) | {"chunk_id": chunk_id},
        references=None,
        vector={} if stored is None else {VECTOR_NAME: stored.astype(float).tolist()},
        collection="KnowledgeChunk",
    )


def test_distances_become_cosine_similarities() -> None:
    assert cosine_from_distance(0.0) == 1.0
    assert cosine_from_distance(0.25) == 0.75
    assert cosine_from_distance(1.5) == -0.5  # cosine distance runs 0..2
    assert cosine_from_distance(None) == 0.0


def test_vector_hits_alone_score_their_cosine() -> None:
    nearest = [found("b", distance=0.6), found("a", distance=0.2), found("c", distance=1.2)]
    hits = rank(nearest, [], axis(0), DEFAULT_ALPHA, top_k=2)
    assert [(h.chunk_id, h.score) for h in hits] == [
        ("a", pytest.approx(0.8)),
        ("b", pytest.approx(0.4)),
    ]
    clamped = rank(nearest, [], axis(0), DEFAULT_ALPHA, top_k=3)
    assert clamped[-1].score == 0.0  # a negative cosine is no relevance, not less


def test_both_sides_are_fused_as_the_embedded_backend_fuses_them() -> None:
    query = axis(0)
    lexical_only = vec(0.6, 0.8)  # cosine 0.6 with the query, not among the vector hits
    nearest = [found("a", distance=0.1), found("b", distance=0.3)]
    lexical = [
        found("b", bm25=4.0, stored=vec(1.0, 1.0)),
        found("c", bm25=12.0, stored=lexical_only),
    ]
    hits = rank(nearest, lexical, query, 0.9, top_k=5)
    expected = fuse(
        {"a": 0.9, "b": 0.7, "c": cosine(query, lexical_only)}, {"b": 4.0, "c": 12.0}, 0.9
    )
    assert {h.chunk_id: h.score for h in hits} == pytest.approx(expected)
    assert [h.chunk_id for h in hits] == sorted(expected, key=lambda k: -expected[k])
    # b's cosine comes from its distance (the server's), not from the vector it came back with.
    assert hits[[h.chunk_id for h in hits].index("b")].score == pytest.approx(
        0.9 * 0.7 + 0.1 * saturate(4.0)
    )


def test_a_chunks_score_does_not_depend_on_its_competitors() -> None:
    """Relative-score fusion put the best of a weak set at 1.0; this score stays where it is."""
    weak = [found("a", distance=0.7)]
    words = [found("a", bm25=2.0)]
    alone = rank(weak, words, axis(0), DEFAULT_ALPHA, top_k=3)
    strong = [found("z", distance=0.0), *weak]
    crowded = rank(
        strong, [found("z", bm25=9.0, stored=axis(0)), *words], axis(0), DEFAULT_ALPHA, 3
    )
    assert alone[0].chunk_id == "a"
    assert alone[0].score == pytest.approx(0.9 * 0.3 + 0.1 * saturate(2.0))
    assert alone[0].score < 0.5
    assert crowded[0].chunk_id == "z"
    assert {h.chunk_id: h.score for h in crowded}["a"] == alone[0].score


def test_ties_go_to_the_chunk_id() -> None:
    nearest = [found("b", distance=0.5), found("a", distance=0.5)]
    assert [h.chunk_id for h in rank(nearest, [], axis(0), 0.9, top_k=2)] == ["a", "b"]


def test_hits_carry_the_document_title_and_section_path() -> None:
    hit = found("a", distance=0.1, heading="Billing > Payment", source="Brightwater guide")
    (scored,) = rank([hit], [], axis(0), DEFAULT_ALPHA, top_k=1)
    assert (scored.source, scored.heading) == ("Brightwater guide", "Billing > Payment")
    assert (scored.document_id, scored.text) == ("guide", "text of a")


def test_a_lexical_match_without_a_usable_stored_vector_counts_cosine_zero() -> None:
    assert stored_cosine(axis(0).tolist(), found("a", bm25=1.0)) == 0.0
    wrong = found("a", bm25=1.0, stored=np.ones(3, dtype=np.float32))
    assert stored_cosine(axis(0).tolist(), wrong) == 0.0
    assert stored_cosine(axis(0).tolist(), found("a", stored=vec(1.0, 1.0))) == pytest.approx(
        0.5**0.5
    )
    (hit,) = rank([], [found("a", bm25=8.0)], axis(0), 0.9, top_k=1)
    assert hit.score == pytest.approx(0.1 * 0.5)


class FakeQueries:
    """The ``query`` namespace of a tenant's chunk collection: records what search sends."""

    def __init__(self, nearest: Sequence[Found], lexical: Sequence[Found]) -> None:
        self.nearest = list(nearest)
        self.lexical = list(lexical)
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []
        self.failure: Exception | None = None

    async def near_vector(self, vector: list[float], **kwargs: Any) -> SimpleNamespace:
        self.calls.append(("near_vector", vector, kwargs))
        if self.failure is not None:
            raise self.failure
        return SimpleNamespace(objects=self.nearest)

    async def bm25(self, text: str, **kwargs: Any) -> SimpleNamespace:
        self.calls.append(("bm25", text, kwargs))
        return SimpleNamespace(objects=self.lexical)


class FakeChunkCollection:
    def __init__(self, queries: FakeQueries) -> None:
        self.query = queries
        self.tenants: list[str] = []

    def with_tenant(self, tenant: str) -> FakeChunkCollection:
        self.tenants.append(tenant)
        return self


def wired(backend: WeaviateBackend, queries: FakeQueries) -> FakeChunkCollection:
    """``backend`` as if started, its chunk collection answering from ``queries``."""
    collection = FakeChunkCollection(queries)
    backend._chunks = backend._documents = collection  # type: ignore[assignment]
    backend._tenants.add(tenant_name("Acme"))
    return collection


async def test_search_asks_for_both_candidate_sets_and_fuses_them() -> None:
    backend = WeaviateBackend(dimensions=DIMS)
    queries = FakeQueries(
        [found("a", distance=0.2), found("b", distance=0.5)],
        [found("b", bm25=8.0, stored=vec(1.0, 1.0)), found("c", bm25=20.0, stored=axis(1))],
    )
    collection = wired(backend, queries)
    hits = await backend.search("Acme", axis(0), "drain cleaning", 3, document_ids=["guide"])

    assert collection.tenants == [tenant_name("Acme")]
    (near_name, vector, near), (bm25_name, text, words) = queries.calls
    assert (near_name, bm25_name, text) == ("near_vector", "bm25", "drain cleaning")
    assert vector == pytest.approx(axis(0).tolist())
    assert near["target_vector"] == VECTOR_NAME
    assert near["limit"] == 3
    assert near["return_metadata"].distance is True
    assert words["query_properties"] == BM25_PROPERTIES == ["heading", "text"]
    assert words["limit"] == candidate_count(3)
    assert words["include_vector"] == [VECTOR_NAME]
    assert words["return_metadata"].score is True
    for sent in (near, words):  # the document filter reaches both sides
        assert sent["filters"].value == ["guide"]
        assert sent["filters"].operator.name == "CONTAINS_ANY"
    assert [h.chunk_id for h in hits] == ["a", "b", "c"]
    assert hits[0].score == pytest.approx(0.9 * 0.8)  # a: no words matched, so 0 on that side
    assert hits[1].score == pytest.approx(0.9 * 0.5 + 0.1 * 0.5)
    assert hits[2].score == pytest.approx(0.1 * saturate(20.0))  # c: orthogonal, words only


@pytest.mark.parametrize(("text", "alpha"), [("   ", DEFAULT_ALPHA), ("drain", 1.0)])
async def test_without_words_or_weight_the_search_is_by_vector_alone(
    text: str, alpha: float
) -> None:
    backend = WeaviateBackend(dimensions=DIMS, alpha=alpha)
    queries = FakeQueries([found("a", distance=0.25)], [found("z", bm25=99.0)])
    wired(backend, queries)
    hits = await backend.search("Acme", axis(0), text, 5)
    assert [name for name, _, _ in queries.calls] == ["near_vector"]
    assert queries.calls[0][2]["filters"] is None
    assert [(h.chunk_id, h.score) for h in hits] == [("a", 0.75)]


async def test_search_failures_are_reported_as_unavailable() -> None:
    backend = WeaviateBackend(dimensions=DIMS)
    queries = FakeQueries([], [])
    queries.failure = WeaviateQueryError("shard down", "gRPC")
    wired(backend, queries)
    with pytest.raises(BackendUnavailable, match=r"search failed .*shard down"):
        await backend.search("Acme", axis(0), "drain", 5)
    assert tenant_name("Acme") not in backend._tenants  # looked up again next time


async def test_when_one_side_fails_the_other_is_not_left_running() -> None:
    waiting = asyncio.Event()
    cancelled = False

    async def fails() -> None:
        await asyncio.sleep(0)
        raise WeaviateQueryError("boom", "gRPC")

    async def waits() -> None:
        nonlocal cancelled
        try:
            await waiting.wait()
        except asyncio.CancelledError:
            cancelled = True
            raise

    for first, second in ((fails(), waits()), (waits(), fails())):
        cancelled = False
        with pytest.raises(WeaviateQueryError):
            await both(first, second)
        assert cancelled
    assert await both(asyncio.sleep(0, "a"), asyncio.sleep(0, 2)) == ("a", 2)


def test_the_default_weight_is_the_embedded_backends() -> None:
    assert WeaviateBackend(dimensions=DIMS).alpha == DEFAULT_ALPHA


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
