"""A real nats-server for the observability tests, and spans captured in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.aio.client import Client
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from switchboard_common.tracing import setup_tracing
from switchboard_sim.stack import LocalStack

#: One exporter for the session: the tracer provider is process-wide and set once.
_EXPORTER = InMemorySpanExporter()
_installed: list[bool] = []


@pytest.fixture(scope="module")
async def obs_nats_url() -> AsyncIterator[str]:
    async with LocalStack() as stack:
        yield await stack.start_nats()


@pytest.fixture
async def nc(obs_nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(obs_nats_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Finished spans of this test only (exported synchronously, so no flush is needed)."""
    if not _installed:
        setup_tracing("tests", exporter=_EXPORTER, batch=False)
        _installed.append(True)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()
