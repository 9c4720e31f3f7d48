"""Fixtures for the knowledge backend contract: ``backend`` is parametrised over every
implementation — ``embedded`` (files under a temporary directory) and ``weaviate`` (a real
server in a container, started once per session with testcontainers).

The Weaviate parameter is marked ``weaviate`` and skipped, with the reason, when no Docker
engine answers (checked once, bounded to a few seconds). Each Weaviate test gets its own pair
of collections, so tests never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from switchboard_knowledge.backends.base import KnowledgeBackend

from .kb_helpers import DIMS

#: Pinned server image (the v4 client needs >= 1.27).
WEAVIATE_IMAGE = "cr.weaviate.io/semitechnologies/weaviate:1.36.2"
#: Bound on asking the Docker engine whether it is there.
DOCKER_PING_TIMEOUT_S = 3
#: A cold image pull plus start-up can take a while; the tests themselves are quick.
WEAVIATE_TEST_TIMEOUT_S = 600


@cache
def docker_engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None when one answers a ping."""
    try:
        import docker  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - docker comes with testcontainers
        return f"the docker package is not installed ({exc})"
    try:
        client = docker.from_env(timeout=DOCKER_PING_TIMEOUT_S)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return " ".join(f"{type(exc).__name__}: {exc}".split())
    return None


@dataclass(frozen=True)
class WeaviateServer:
    host: str
    http_port: int
    grpc_port: int


@pytest.fixture(scope="session")
def weaviate_server() -> Iterator[WeaviateServer]:
    problem = docker_engine_problem()
    if problem is not None:
        pytest.skip(f"no Docker engine: {problem}")
    from testcontainers.community.weaviate import WeaviateContainer

    container = WeaviateContainer(
        image=WEAVIATE_IMAGE, env_vars={"DISABLE_TELEMETRY": "true", "LOG_LEVEL": "warning"}
    )
    container.start()
    try:
        host = container.get_container_host_ip()
        if host in ("localhost", "127.0.0.1", "::1"):
            host = "127.0.0.1"
        else:
            pytest.skip(f"Docker publishes ports on {host!r}, not on 127.0.0.1")
        yield WeaviateServer(
            host=host,
            http_port=int(container.get_http_port()),
            grpc_port=int(container.get_grpc_port()),
        )
    finally:
        container.stop()


def make_weaviate_backend(server: WeaviateServer) -> KnowledgeBackend:
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
