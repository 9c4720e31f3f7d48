"""The embedded backend's own guarantees: files on disk, reopen, recovery, isolation, errors."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from switchboard_knowledge.backends.base import ChunkRecord, DocumentRecord, Vector
from switchboard_knowledge.backends.embedded import EmbeddedBackend
from switchboard_knowledge.backends.embedded_store import INDEX_FILE

DIMS = 16
WHEN = datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def unit(seed: int) -> Vector:
    v = np.random.default_rng(seed).standard_normal(DIMS).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


def make(
    document_id: str, texts: list[str], seed: int = 0, source: str | None = None
) -> tuple[DocumentRecord, list[ChunkRecord]]:
    chunks = [
        ChunkRecord(
            chunk_id=f"{document_id}-{i}",
            document_id=document_id,
            source=source or f"{document_id}.txt",
            heading=f"H{i}",
            text=text,
            position=i,
            vector=unit(seed + i),
        )
        for i, text in enumerate(texts)
    ]
    body = "\n".join(texts).encode()
    doc = DocumentRecord(
        document_id=document_id,
        source=source or f"{document_id}.txt",
        content_type="text/plain",
        content_hash=hashlib.sha256(body).hexdigest(),
        chunks=len(chunks),
        bytes=len(body),
        updated_at=WHEN,
    )
    return doc, chunks


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[EmbeddedBackend]:
    b = EmbeddedBackend(tmp_path / "kb", DIMS)
    await b.start()
    try:
        yield b
    finally:
        await b.close()


async def test_survives_close_and_reopen(tmp_path: Path) -> None:
    first = EmbeddedBackend(tmp_path / "kb", DIMS)
    await first.start()
    doc, chunks = make("menu", ["tart", "cake", "pie"], seed=10)
    await first.replace_document("acme", doc, chunks)
    before = await first.search("acme", unit(11), "", top_k=3)
    await first.close()
    assert (tmp_path / "kb" / "acme" / INDEX_FILE).exists()

    second = EmbeddedBackend(tmp_path / "kb", DIMS)
    await second.start()
    try:
        assert await second.get_document("acme", "menu") == doc
        assert await second.count_chunks("acme") == 3
        after = await second.search("acme", unit(11), "", top_k=3)
        assert after == before
        assert after[0].chunk_id == "menu-1"
        assert after[0].score == pytest.approx(1.0, abs=1e-3)
    finally:
        await second.close()


async def test_index_lost_or_behind_is_rebuilt_from_sqlite(tmp_path: Path) -> None:
    """A crash after the sqlite commit but before the debounced save loses nothing."""
    first = EmbeddedBackend(tmp_path / "kb", DIMS)
    await first.start()
    await first.replace_document("acme", *make("old", ["a", "b"], seed=1))
    await first.flush()
    saved = (tmp_path / "kb" / "acme" / INDEX_FILE).read_bytes()
    await first.replace_document("acme", *make("old", ["c"], seed=50))  # replaces 2 keys
    await first.replace_document("acme", *make("new", ["d"], seed=60))
    await first.close()
    (tmp_path / "kb" / "acme" / INDEX_FILE).write_bytes(saved)  # the index as of the flush

    second = EmbeddedBackend(tmp_path / "kb", DIMS)
    await second.start()
    try:
        hits = await second.search("acme", unit(1), "", top_k=10)
        assert {h.chunk_id for h in hits} == {"old-0", "new-0"}
        # The stale key nearest this query was dropped from the index, not just hidden.
        assert len(await second.search("acme", unit(1), "", top_k=1)) == 1
        assert (await second.search("acme", unit(60), "", top_k=1))[0].chunk_id == "new-0"
    finally:
        await second.close()

    (tmp_path / "kb" / "acme" / INDEX_FILE).write_bytes(b"not an index")
    third = EmbeddedBackend(tmp_path / "kb", DIMS)
    await third.start()
    try:
        assert (await third.search("acme", unit(50), "", top_k=1))[0].chunk_id == "old-0"
    finally:
        await third.close()


async def test_replace_removes_stale_chunks(backend: EmbeddedBackend) -> None:
    assert await backend.replace_document("acme", *make("doc", ["one", "two", "three"])) == 0
    assert await backend.replace_document("acme", *make("doc", ["uno"], seed=100)) == 3
    assert [c.text for c in await backend.document_chunks("acme", "doc")] == ["uno"]
    hits = await backend.search("acme", unit(1), "two", top_k=10)
    assert [h.text for h in hits] == ["uno"]
    assert await backend.count_chunks("acme") == 1


async def test_delete(backend: EmbeddedBackend) -> None:
    await backend.replace_document("acme", *make("doc", ["one", "two"]))
    await backend.replace_document("acme", *make("keep", ["three"], seed=9))
    assert await backend.delete_document("acme", "doc") is True
    assert await backend.delete_document("acme", "doc") is False
    assert await backend.get_document("acme", "doc") is None
    hits = await backend.search("acme", unit(0), "one", top_k=10)
    assert [h.document_id for h in hits] == ["keep"]


async def test_tenant_isolation_with_identical_text(backend: EmbeddedBackend) -> None:
    await backend.replace_document("acme", *make("menu", ["same words"], source="a"))
    await backend.replace_document("bistro", *make("menu", ["same words"], source="b"))
    for business, source in (("acme", "a"), ("bistro", "b")):
        hits = await backend.search(business, unit(0), "same words", top_k=10)
        assert [h.source for h in hits] == [source]
    await backend.delete_document("bistro", "menu")
    assert await backend.search("bistro", unit(0), "same words", top_k=10) == []
    assert len(await backend.search("acme", unit(0), "same words", top_k=10)) == 1


async def test_document_ids_filter(backend: EmbeddedBackend) -> None:
    await backend.replace_document("acme", *make("a", ["alpha"], seed=1))
    await backend.replace_document("acme", *make("b", ["beta", "gamma"], seed=2))
    hits = await backend.search("acme", unit(1), "", top_k=5, document_ids=["b"])
    assert {h.document_id for h in hits} == {"b"}
    assert len(hits) == 2
    assert await backend.search("acme", unit(1), "", top_k=5, document_ids=[]) == []
    assert await backend.search("acme", unit(1), "alpha", top_k=5, document_ids=["zz"]) == []


async def test_hybrid_rank_a_word_match_up(backend: EmbeddedBackend) -> None:
    """Equal vector scores: the chunk holding the query's rare word wins."""
    v = unit(3)
    others = ["we sell tea", "we sell coffee", "gift cards on sale", "we deliver daily"]
    doc, chunks = make("doc", ["opening hours daily", "the parking code is XJ42", *others])
    await backend.replace_document("acme", doc, [replace(c, vector=v) for c in chunks])
    hits = await backend.search("acme", v, "parking code", top_k=2)
    assert hits[0].text == "the parking code is XJ42"
    assert 0.75 < hits[0].score < 1.0  # the cosine (1) weighed by alpha, plus a word match
    assert hits[1].score < hits[0].score
    filtered = await backend.search("acme", v, "opening", top_k=2, document_ids=["doc"])
    assert filtered[0].text == "opening hours daily"
    assert filtered[1].score < filtered[0].score


async def test_concurrent_writes_and_searches(backend: EmbeddedBackend) -> None:
    async def write(i: int) -> int:
        business = "acme" if i % 2 else "bistro"
        return await backend.replace_document(business, *make(f"d{i}", ["x", "y"], seed=i * 7))

    async def read(i: int) -> int:
        return len(await backend.search("acme", unit(i), "x", top_k=3))

    results = await asyncio.gather(*(write(i) for i in range(20)), *(read(i) for i in range(40)))
    assert results[:20] == [0] * 20
    assert await backend.count_chunks("acme") == 20
    assert await backend.count_chunks("bistro") == 20
    for i in range(20):
        business = "acme" if i % 2 else "bistro"
        assert len(await backend.document_chunks(business, f"d{i}")) == 2


async def test_dimension_mismatch(backend: EmbeddedBackend, tmp_path: Path) -> None:
    doc, chunks = make("doc", ["one"])
    bad = [replace(chunks[0], vector=np.ones(DIMS + 1, np.float32))]
    with pytest.raises(ValueError, match="expects"):
        await backend.replace_document("acme", doc, bad)
    with pytest.raises(ValueError, match="expects"):
        await backend.search("acme", np.ones(3, np.float32), "", top_k=1)
    with pytest.raises(ValueError, match="expects"):
        await backend.search("nobody", np.ones(3, np.float32), "", top_k=1)

    await backend.replace_document("acme", doc, chunks)
    await backend.close()
    other = EmbeddedBackend(tmp_path / "kb", DIMS * 2)
    await other.start()
    try:
        with pytest.raises(ValueError, match="dimensions"):
            await other.count_chunks("acme")
    finally:
        await other.close()


async def test_unknown_and_invalid_businesses(backend: EmbeddedBackend, tmp_path: Path) -> None:
    assert await backend.search("ghost", unit(0), "x", top_k=3) == []
    assert await backend.list_documents("../escape") == []
    assert not (tmp_path / "kb" / "ghost").exists()
    with pytest.raises(ValueError, match="token"):
        await backend.replace_document("../escape", *make("doc", ["x"]))


async def test_chunk_id_owned_by_another_document_is_refused(backend: EmbeddedBackend) -> None:
    await backend.replace_document("acme", *make("a", ["alpha"]))
    doc, chunks = make("b", ["beta"])
    stolen = [replace(chunks[0], chunk_id="a-0")]
    with pytest.raises(ValueError, match="chunk id"):
        await backend.replace_document("acme", doc, stolen)
    assert await backend.get_document("acme", "b") is None  # rolled back
    assert [c.text for c in await backend.document_chunks("acme", "a")] == ["alpha"]


async def test_not_started_is_unavailable(tmp_path: Path) -> None:
    from switchboard_knowledge.backends.base import BackendUnavailable

    with pytest.raises(BackendUnavailable):
        await EmbeddedBackend(tmp_path, DIMS).count_chunks("acme")


async def test_large_filter_uses_over_fetch(
    backend: EmbeddedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from switchboard_knowledge.backends import embedded_search

    monkeypatch.setattr(embedded_search, "FILTER_EXACT_LIMIT", 0)
    monkeypatch.setattr(embedded_search, "EXACT_BELOW", 0)
    for d in range(10):
        await backend.replace_document("acme", *make(f"d{d}", ["t"] * 5, seed=d * 10))
    hits = await backend.search("acme", unit(93), "", top_k=3, document_ids=["d9"])
    assert hits[0].chunk_id == "d9-3"
    assert {h.document_id for h in hits} == {"d9"} and len(hits) == 3
