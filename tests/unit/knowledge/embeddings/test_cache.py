"""CachedEmbedder: content-hash keys, memory LRU, sqlite persistence."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from switchboard_knowledge.embeddings import CachedEmbedder, LocalEmbedder
from switchboard_knowledge.embeddings.base import Vectors, empty_vectors, l2_normalise
from switchboard_knowledge.embeddings.cache import cache_key


class CountingEmbedder:
    """Deterministic fake that records every text it is asked to embed."""

    def __init__(self, name: str = "fake/v1", dimensions: int = 8) -> None:
        self.name = name
        self.dimensions = dimensions
        self.calls: list[list[str]] = []

    @property
    def embedded(self) -> int:
        return sum(len(c) for c in self.calls)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(list(texts))
        if not texts:
            return empty_vectors(self.dimensions)
        rows = [
            np.random.default_rng(int.from_bytes(cache_key(self.name, t)[:8], "little")).normal(
                size=self.dimensions
            )
            for t in texts
        ]
        return l2_normalise(np.array(rows))


async def test_memory_hit_avoids_the_inner_embedder() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner)
    first = await cache.embed(["a", "b"])
    second = await cache.embed(["b", "a"])
    assert inner.embedded == 2
    np.testing.assert_array_equal(second, first[::-1])
    assert (cache.memory_hits, cache.misses) == (2, 2)


async def test_only_the_misses_are_embedded_once_each() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner)
    await cache.embed(["a"])
    vectors = await cache.embed(["a", "b", "b", "c"])
    assert inner.calls == [["a"], ["b", "c"]]
    assert vectors.shape == (4, 8)
    np.testing.assert_array_equal(vectors[1], vectors[2])
    np.testing.assert_array_equal(vectors, await CountingEmbedder().embed(["a", "b", "b", "c"]))


async def test_persists_across_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "embeddings.sqlite3"
    first_inner = CountingEmbedder()
    first = CachedEmbedder(first_inner, path)
    stored = await first.embed(["opening hours", "parking"])
    await first.aclose()
    assert first_inner.embedded == 2

    reopened_inner = CountingEmbedder()
    reopened = CachedEmbedder(reopened_inner, path)
    again = await reopened.embed(["parking", "opening hours", "new text"])
    await reopened.aclose()
    assert reopened_inner.calls == [["new text"]]
    assert reopened.disk_hits == 2
    np.testing.assert_array_equal(again[:2], stored[::-1])
    assert again.dtype == np.float32


async def test_another_model_never_reuses_vectors(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite3"
    old = CachedEmbedder(CountingEmbedder("fake/v1"), path)
    await old.embed(["hello"])
    await old.aclose()
    new_inner = CountingEmbedder("fake/v2")
    new = CachedEmbedder(new_inner, path)
    await new.embed(["hello"])
    await new.aclose()
    assert new_inner.embedded == 1


async def test_a_stored_vector_of_the_wrong_size_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite3"
    cache = CachedEmbedder(CountingEmbedder(), path)
    await cache.embed(["warm"])  # creates the file
    await cache.aclose()
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO embeddings VALUES (?, ?, ?)",
            (cache_key("fake/v1", "broken"), 8, b"\x00" * 12),
        )
    inner = CountingEmbedder()
    reopened = CachedEmbedder(inner, path)
    vectors = await reopened.embed(["broken"])
    await reopened.aclose()
    assert inner.embedded == 1
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


async def test_lru_evicts_the_least_recently_used() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner, memory_items=2)
    await cache.embed(["a"])
    await cache.embed(["b"])
    await cache.embed(["a"])  # a is now the most recent
    await cache.embed(["c"])  # evicts b
    await cache.embed(["a"])
    assert inner.embedded == 3
    await cache.embed(["b"])
    assert inner.embedded == 4


async def test_returned_arrays_do_not_alias_the_cache() -> None:
    cache = CachedEmbedder(CountingEmbedder())
    first = await cache.embed(["a"])
    first[:] = 0.0
    second = await cache.embed(["a"])
    assert np.linalg.norm(second) == pytest.approx(1.0, abs=1e-6)


async def test_empty_input_and_closed_cache() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner)
    assert (await cache.embed([])).shape == (0, 8)
    assert inner.calls == []
    await cache.aclose()
    with pytest.raises(RuntimeError):
        await cache.embed(["a"])


async def test_in_front_of_the_local_model(local_embedder: LocalEmbedder, tmp_path: Path) -> None:
    cache = CachedEmbedder(local_embedder, tmp_path / "local.sqlite3")
    texts = ["Do you deliver?", "Are you open on Sunday?"]
    cached = await cache.embed(texts)
    await cache.aclose()
    reopened = CachedEmbedder(local_embedder, tmp_path / "local.sqlite3")
    from_disk = await reopened.embed(texts)
    await reopened.aclose()
    assert reopened.misses == 0
    np.testing.assert_array_equal(from_disk, cached)
    np.testing.assert_array_equal(cached, await local_embedder.embed(texts))
