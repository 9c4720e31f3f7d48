"""Prometheus metrics of the knowledge service (served on the HTTP API's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUEST_SECONDS = Histogram(
    "switchboard_knowledge_request_seconds",
    "Bus requests handled, by endpoint (query, ingest, delete, list) and outcome (ok or the "
    "error code); endpoint=query is the query latency the service itself sees.",
    ["endpoint", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
REQUESTS_WAITING = Counter(
    "switchboard_knowledge_requests_queued_total",
    "Bus requests that had to wait for a free concurrency slot.",
    ["endpoint"],
)
CHUNKS_TRUNCATED = Counter(
    "switchboard_knowledge_chunks_truncated_total",
    "Chunks ingested that were longer than the embedder's window, so their tail was not "
    "embedded. Should stay 0: the chunker sizes chunks with the embedder's tokenizer.",
)
