"""Knowledge service resources under ingestion (issue 12, part 7), part of ``make bench``.

A fresh service (empty store, local embedder) is started for real and measured from outside:

* the first query after it reports ready, against the queries after it (the model must be
  loaded before ready, so the first query costs no more than the rest);
* RSS idle, at its peak while 10 MB of Markdown is ingested over NATS, right after, and a few
  seconds later (it should fall back near idle);
* ingestion throughput in chunks per second (extraction, chunking, embedding, storage), and
  per CPU-second of the service, which holds when other work shares the cores (50 chunks/s on
  2 cores needs 25 per CPU-second).

The documents are the evaluation's three documents repeated, every paragraph made unique so
that the embedding cache cannot flatter the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client

from switchboard_common import subjects
from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.knowledge import IngestReply, IngestRequest, KnowledgeQuery
from switchboard_sim.stack import LocalStack

from .procstat import sample

DOCUMENTS = Path(__file__).resolve().parents[1] / "eval" / "knowledge" / "documents"
#: One request's document; NATS carries at most 1 MB a message.
DOCUMENT_BYTES = 250_000
#: How long after the last ingest the RSS is read again.
SETTLE_S = 3.0


def corpus(total_bytes: int) -> list[str]:
    """Markdown documents of about :data:`DOCUMENT_BYTES`, ``total_bytes`` in all."""
    paragraphs = [
        p for path in sorted(DOCUMENTS.glob("*.md")) for p in path.read_text().split("\n\n")
    ]
    documents: list[str] = []
    current: list[str] = []
    size = 0
    n = 0
    while sum(len(d) for d in documents) + size < total_bytes:
        paragraph = paragraphs[n % len(paragraphs)]
        # Headings stay headings; other paragraphs get a unique reference.
        text = paragraph if paragraph.startswith("#") else f"{paragraph} (ref {n})"
        current.append(text)
        size += len(text) + 2
        n += 1
        if size >= DOCUMENT_BYTES:
            documents.append("\n\n".join(current))
            current, size = [], 0
    if current:
        documents.append("\n\n".join(current))
    return documents


async def _query_ms(nc: Client, text: str) -> float:
    query = KnowledgeQuery(business_id=DEMO_BUSINESS.business_id, text=text, top_k=5)
    started = time.perf_counter()
    await nc.request(subjects.KNOWLEDGE_QUERY, query.to_bytes(), timeout=10)
    return (time.perf_counter() - started) * 1000.0


async def bench_ingest_memory(megabytes: float = 10.0) -> dict[str, Any]:
    documents = corpus(int(megabytes * 1_000_000))
    async with LocalStack() as stack:
        await stack.start_nats()
        child = await stack.start_knowledge()
        nc = await nats.connect(stack.nats_url)
        try:
            idle = sample(child.pid).rss_mb
            first = await _query_ms(nc, "what time do you open on saturday")
            later = [await _query_ms(nc, f"is there parking near you {i}") for i in range(20)]
            peak = idle
            stop = asyncio.Event()

            async def watch() -> None:
                nonlocal peak
                while not stop.is_set():
                    peak = max(peak, sample(child.pid).rss_mb)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.2)

            watcher = asyncio.create_task(watch())
            chunks = 0
            cpu_before = sample(child.pid).cpu_s
            started = time.perf_counter()
            for n, text in enumerate(documents):
                request = IngestRequest(
                    business_id=DEMO_BUSINESS.business_id,
                    source=f"memory-{n}.md",
                    content_type="text/markdown",
                    text=text,
                )
                msg = await nc.request(subjects.KNOWLEDGE_INGEST, request.to_bytes(), timeout=600)
                chunks += IngestReply.model_validate_json(msg.data).document.chunks
            seconds = time.perf_counter() - started
            cpu_s = sample(child.pid).cpu_s - cpu_before
            stop.set()
            await watcher
            after = sample(child.pid).rss_mb
            await asyncio.sleep(SETTLE_S)  # a measurement interval, not synchronisation
            settled = sample(child.pid).rss_mb
        finally:
            await nc.close()
    return {
        "megabytes": sum(len(d) for d in documents) / 1e6,
        "documents": len(documents),
        "chunks": chunks,
        "seconds": seconds,
        "chunks_per_s": chunks / seconds,
        "chunks_per_cpu_s": chunks / cpu_s,
        "load_average": os.getloadavg()[0],
        "first_query_ms": first,
        "later_query_ms_median": statistics.median(later),
        "rss_mb": {"idle": idle, "peak": peak, "after": after, "settled": settled},
    }


def render(result: dict[str, Any]) -> str:
    rss = result["rss_mb"]
    return "\n".join(
        [
            f"knowledge ingestion, {result['megabytes']:.1f} MB of Markdown in "
            f"{result['documents']} documents over NATS: {result['chunks']} chunks in "
            f"{result['seconds']:.0f} s, {result['chunks_per_s']:.1f} chunks/s; "
            f"{result['chunks_per_cpu_s']:.1f} chunks per CPU-second of the service "
            f"(load average {result['load_average']:.1f} on {os.cpu_count()} cores)",
            f"  service RSS: idle {rss['idle']:.0f} MB, peak {rss['peak']:.0f} MB, after "
            f"{rss['after']:.0f} MB, {SETTLE_S:.0f} s later {rss['settled']:.0f} MB",
            f"  first query after ready {result['first_query_ms']:.1f} ms (the next 20: median "
            f"{result['later_query_ms_median']:.1f} ms)",
        ]
    )


if __name__ == "__main__":
    print(render(asyncio.run(bench_ingest_memory())))
