"""Fixtures for the knowledge backend contract: ``backend`` is parametrised over every
implementation — ``embedded`` (files under a temporary directory) and ``weaviate`` (a real
server in a container, started once per session with testcontainers).

The Weaviate parameter is marked ``weaviate`` and skipped, with the reason, when no Docker
engine answers (the root ``tests/conftest.py`` checks once, bounded to a few seconds). Each
Weaviate test gets its own pair of collections, so tests never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchboard_knowledge.backends.base import KnowledgeBackend

from .kb_helpers import DIMS

#: A cold image pull plus start-up can take a while; the tests themselves are quick.
WEAVIATE_TEST_TIMEOUT_S = 600


def make_weaviate_backend(server: Any) -> KnowledgeBackend:
    """``server`` is the root conftest's ``weaviate_server`` (host, http_port, grpc_port)."""
    from switchboard_knowledge.backends.weaviate import WeaviateBackend

    suffix = uuid.uuid4().hex[:12]
    return WeaviateBackend(
        dimensions=DIMS,
        http_host=server.host,
        http_port=server.http_port,
        grpc_host=server.host,
        grpc_port=server.grpc_port,
        collection=f"ContractChunk{suffix}",
        document_collection=f"ContractDocument{suffix}",
        timeout_s=30.0,
    )


def make_embedded_backend(path: Path) -> KnowledgeBackend:
    try:
        from switchboard_knowledge.backends.embedded import EmbeddedBackend
    except ImportError as exc:
        pytest.skip(f"embedded backend not importable (yet?): {exc}")
    backend: KnowledgeBackend = EmbeddedBackend(path, DIMS)
    return backend


@pytest.fixture(
    params=[
        pytest.param("embedded", id="embedded"),
        pytest.param(
            "weaviate",
            id="weaviate",
            marks=[pytest.mark.weaviate, pytest.mark.timeout(WEAVIATE_TEST_TIMEOUT_S)],
        ),
    ]
)
def backend_factory(request: pytest.FixtureRequest, tmp_path: Path) -> KnowledgeBackend:
    """A fresh, not yet started backend of the parametrised kind."""
    if request.param == "weaviate":
        return make_weaviate_backend(request.getfixturevalue("weaviate_server"))
    return make_embedded_backend(tmp_path / "knowledge")


@pytest.fixture
async def backend(backend_factory: KnowledgeBackend) -> AsyncIterator[KnowledgeBackend]:
    await backend_factory.start()
    try:
        yield backend_factory
    finally:
        await backend_factory.close()
