"""The bus connection (tests/unit/conftest.py) and spans captured in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nats.aio.client import Client
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from switchboard_common.tracing import setup_tracing

#: One exporter for the session: the tracer provider is process-wide and set once.
_EXPORTER = InMemorySpanExporter()
_installed: list[bool] = []


@pytest.fixture
def nc(bus: Client) -> Client:
    """This folder's tests call the connection ``nc``."""
    return bus


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Finished spans of this test only (exported synchronously, so no flush is needed)."""
    if not _installed:
        setup_tracing("tests", exporter=_EXPORTER, batch=False)
        _installed.append(True)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()
