"""Knowledge service figures: query latency over NATS at 1k/10k/100k chunks (the query's
embedding reported apart), ingestion throughput, and the service's memory.

The store is pre-filled in-process with random unit vectors and Zipf text (embedding 100k
chunks with the local model would take half an hour), then the real service process is
started on it and asked real questions over NATS: each query is embedded by the local model
for real, searched for real, and answered over the bus.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import nats
import numpy as np
from nats.aio.client import Client

from switchboard_common import subjects
from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.knowledge import (
    ERROR_CODE_HEADER,
    IngestReply,
    IngestRequest,
    KnowledgeQuery,
    KnowledgeQueryReply,
)
from switchboard_knowledge.backends.embedded import EmbeddedBackend
from switchboard_knowledge.backends.embedded_bench import fill, texts, unit_vectors, vocabulary
from switchboard_knowledge.embeddings import LOCAL_DIMENSIONS
from switchboard_sim.stack import LocalStack

from .procstat import sample

BUSINESS = DEMO_BUSINESS.business_id
QUERIES = 300
QUESTIONS = [
    "what time do you open on sunday",
    "do you have gluten free pasta",
    "is there parking nearby",
    "can I book a table for eight people",
    "how much is the lunch menu",
    "do you have a room for a birthday party",
    "is the restaurant wheelchair accessible",
    "what is your most popular dessert",
]
SAMPLE = Path(__file__).resolve().parents[1] / "simulators/samples/knowledge/bellas-bistro.md"


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


async def _prefill(path: Path, size: int) -> None:
    rng = np.random.default_rng(11)
    words = vocabulary(rng)
    backend = EmbeddedBackend(path, LOCAL_DIMENSIONS, save_delay_s=3600.0)
    await backend.start()
    try:
        await fill(
            backend, unit_vectors(rng, size, LOCAL_DIMENSIONS), texts(rng, words, size), BUSINESS
        )
    finally:
        await backend.close()


async def bench_size(size: int, measure_ingest: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sb-knowledge-") as tmp:
        data = Path(tmp) / "data"
        await _prefill(data, size)
        async with LocalStack() as stack:
            await stack.start_nats()
            child = await stack.start_knowledge(KNOWLEDGE_DATA_DIR=str(data))
            nc = await nats.connect(stack.nats_url)
            try:
                round_trips, embeds, searches = [], [], []
                for i in range(QUERIES + 20):
                    query = KnowledgeQuery(
                        business_id=BUSINESS, text=f"{QUESTIONS[i % len(QUESTIONS)]} {i}", top_k=5
                    )
                    started = time.perf_counter()
                    msg = await nc.request(subjects.KNOWLEDGE_QUERY, query.to_bytes(), timeout=10)
                    elapsed_ms = (time.perf_counter() - started) * 1000.0
                    if msg.headers and ERROR_CODE_HEADER in msg.headers:
                        raise RuntimeError(f"query failed: {msg.headers}")
                    reply = KnowledgeQueryReply.model_validate_json(msg.data)
                    if i >= 20:  # warm-up excluded
                        round_trips.append(elapsed_ms)
                        embeds.append(reply.embed_ms)
                        searches.append(reply.search_ms)
                ingest = await _ingest(nc) if measure_ingest else None
                rss = sample(child.pid).rss_mb
            finally:
                await nc.close()
    without_embedding = [t - e for t, e in zip(round_trips, embeds, strict=True)]
    return {
        "chunks": size,
        "query_ms": {"p50": _pct(round_trips, 50), "p99": _pct(round_trips, 99)},
        "query_without_embedding_ms": {
            "p50": _pct(without_embedding, 50),
            "p99": _pct(without_embedding, 99),
        },
        "search_ms": {"p50": _pct(searches, 50), "p99": _pct(searches, 99)},
        "embedding_ms": {"p50": _pct(embeds, 50), "p99": _pct(embeds, 99)},
        "ingest": ingest,
        "service_rss_mb": rss,
    }


async def _ingest(nc: Client) -> dict[str, float]:
    """Real ingestion over the bus: extraction, chunking, local embedding, storage."""
    paragraphs = SAMPLE.read_text().split("\n\n")
    chunks = 0
    started = time.perf_counter()
    for n in range(10):
        request = IngestRequest(
            business_id=BUSINESS,
            source=f"bench-{n}.md",
            content_type="text/markdown",
            # Every paragraph made unique, so the embedding cache cannot flatter the figure.
            text="\n\n".join(f"{p} (ref {n}.{k})" for k, p in enumerate(paragraphs)),
        )
        msg = await nc.request(subjects.KNOWLEDGE_INGEST, request.to_bytes(), timeout=120)
        chunks += IngestReply.model_validate_json(msg.data).document.chunks
    seconds = time.perf_counter() - started
    return {"documents": 10, "chunks": chunks, "chunks_per_s": chunks / seconds}


def render(result: dict[str, Any]) -> str:
    q, w, s, e = (
        result["query_ms"],
        result["query_without_embedding_ms"],
        result["search_ms"],
        result["embedding_ms"],
    )
    lines = [
        f"knowledge, {result['chunks']} chunks: query over NATS p50 {q['p50']:.2f} p99 "
        f"{q['p99']:.2f} ms; without the query's embedding p50 {w['p50']:.2f} p99 "
        f"{w['p99']:.2f} ms (search alone p50 {s['p50']:.2f} p99 {s['p99']:.2f}); "
        f"embedding p50 {e['p50']:.2f} p99 {e['p99']:.2f} ms; service RSS "
        f"{result['service_rss_mb']:.0f} MB"
    ]
    if result["ingest"]:
        ingest = result["ingest"]
        lines.append(
            f"  ingestion over NATS (local embeddings): {ingest['chunks']} chunks in "
            f"{ingest['documents']} documents, {ingest['chunks_per_s']:.1f} chunks/s"
        )
    return "\n".join(lines)
