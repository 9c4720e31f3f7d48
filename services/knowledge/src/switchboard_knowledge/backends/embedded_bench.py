"""Benchmark of the embedded backend (called by ``make bench``; excludes query embedding).

Fills a fresh backend per size with random unit vectors and Zipf-distributed text of realistic
chunk length (documents of 50 chunks of ~150 words), then measures insert throughput, index
save and reopen time, and search latency through the async API: vector-only, hybrid (words
from the corpus) and filtered to one document. Random vectors are HNSW's worst case (no
clusters), so recall and latency on real embeddings are at least this good.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .base import ChunkRecord, DocumentRecord
from .embedded import EmbeddedBackend

BUSINESS = "bench"
CHUNKS_PER_DOCUMENT = 50
WORDS_PER_CHUNK = 150
VOCABULARY = 20_000
QUERIES = 300
TOP_K = 5


def rss_mb() -> float:
    """Current resident set size (Linux /proc), falling back to the peak."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unit_vectors(rng: np.random.Generator, n: int, dims: int) -> npt.NDArray[np.float32]:
    vectors = rng.standard_normal((n, dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def vocabulary(rng: np.random.Generator) -> npt.NDArray[np.str_]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(2, 11, VOCABULARY)
    return np.array(["".join(rng.choice(letters, size)) for size in lengths])


def texts(rng: np.random.Generator, words: npt.NDArray[np.str_], n: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.3, (n, WORDS_PER_CHUNK)), VOCABULARY) - 1
    return [" ".join(words[row]) for row in ranks]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1000.0
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


async def fill(
    backend: EmbeddedBackend,
    vectors: npt.NDArray[np.float32],
    bodies: list[str],
    business: str = BUSINESS,
) -> float:
    """Insert everything, one document at a time; returns the seconds it took."""
    started = time.perf_counter()
    for doc, start in enumerate(range(0, len(bodies), CHUNKS_PER_DOCUMENT)):
        document_id = f"doc{doc}"
        chunks = [
            ChunkRecord(
                chunk_id=f"{document_id}-{i}",
                document_id=document_id,
                source=f"{document_id}.md",
                heading="Section",
                text=bodies[start + i],
                position=i,
                vector=vectors[start + i],
            )
            for i in range(min(CHUNKS_PER_DOCUMENT, len(bodies) - start))
        ]
        record = DocumentRecord(
            document_id=document_id,
            source=f"{document_id}.md",
            content_type="text/plain",
            content_hash=f"h{doc}",
            chunks=len(chunks),
            bytes=sum(len(c.text) for c in chunks),
            updated_at=datetime.now(UTC),
        )
        await backend.replace_document(business, record, chunks)
    return time.perf_counter() - started


async def time_searches(
    backend: EmbeddedBackend,
    queries: npt.NDArray[np.float32],
    words: list[str],
    filtered: bool = False,
) -> tuple[float, float]:
    samples: list[float] = []
    for i, query in enumerate(queries):
        text = " ".join(words[i * 4 : i * 4 + 4])
        ids = [f"doc{i % 10}"] if filtered else None
        started = time.perf_counter()
        await backend.search(BUSINESS, query, text, TOP_K, document_ids=ids)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


async def bench_size(root: Path, size: int, dims: int, seed: int = 7) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    words = vocabulary(rng)
    bodies = texts(rng, words, size)
    vectors = unit_vectors(rng, size, dims)
    queries = unit_vectors(rng, QUERIES, dims)
    query_words = [str(w) for w in rng.choice(words[:2000], QUERIES * 4)]
    path = root / f"embedded-{size}"

    rss_before = rss_mb()
    backend = EmbeddedBackend(path, dims, save_delay_s=3600.0)  # saves timed separately
    await backend.start()
    try:
        seconds = await fill(backend, vectors, bodies)
        started = time.perf_counter()
        await backend.flush()
        save_ms = (time.perf_counter() - started) * 1000.0
        vector_p50, vector_p99 = await time_searches(backend, queries, [""] * QUERIES * 4)
        hybrid_p50, hybrid_p99 = await time_searches(backend, queries, query_words)
        filter_p50, filter_p99 = await time_searches(backend, queries, query_words, True)
        rss_growth = rss_mb() - rss_before
    finally:
        await backend.close()

    started = time.perf_counter()
    reopened = EmbeddedBackend(path, dims)
    await reopened.start()
    assert await reopened.count_chunks(BUSINESS) == size
    await reopened.search(BUSINESS, queries[0], "", TOP_K)
    reopen_ms = (time.perf_counter() - started) * 1000.0
    await reopened.close()

    return {
        "backend": "embedded",
        "chunks": size,
        "dims": dims,
        "insert_chunks_per_s": round(size / seconds),
        "save_ms": round(save_ms, 1),
        "reopen_ms": round(reopen_ms, 1),
        "search_p50_ms": round(vector_p50, 3),
        "search_p99_ms": round(vector_p99, 3),
        "hybrid_p50_ms": round(hybrid_p50, 3),
        "hybrid_p99_ms": round(hybrid_p99, 3),
        "filtered_p50_ms": round(filter_p50, 3),
        "filtered_p99_ms": round(filter_p99, 3),
        "rss_growth_mb": round(rss_growth, 1),
        "disk_mb": round(dir_mb(path), 1),
    }


async def bench_embedded(
    tmpdir: Path | str, sizes: tuple[int, ...] = (1_000, 10_000, 100_000), dims: int = 384
) -> list[dict[str, Any]]:
    """One result row per size (latencies in ms, through the async API)."""
    return [await bench_size(Path(tmpdir), size, dims) for size in sizes]


if __name__ == "__main__":  # pragma: no cover - manual runs
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        chosen = tuple(int(s) for s in sys.argv[1:]) or (1_000, 10_000, 100_000)
        for row in asyncio.run(bench_embedded(tmp, chosen)):
            print(row)
