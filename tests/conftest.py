"""Fixtures shared by every test folder: a real Weaviate server where Docker can run one, and
the one way generated-input tests run."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import pytest
from hypothesis import HealthCheck, settings

# The tests run in development: the services' placeholder secrets are accepted, and the demo
# business is seeded. Unset, SWITCHBOARD_ENV means production, which refuses them.
os.environ["SWITCHBOARD_ENV"] = "development"

#: A test that leaves a process or a thread behind fails (see tests/leak_guard.py); a stack
#: keeps its logs only when its test failed (tests/stack_folders.py).
pytest_plugins = ["tests.leak_guard", "tests.stack_folders", "pytester"]

# Generated-input tests (hypothesis, schemathesis) are derandomised: a failure is the same
# failure on every run and in CI, and none depends on a local example database. They talk to
# real processes, so no per-example deadline and no health check on slow data generation.
settings.register_profile(
    "switchboard",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile("switchboard")


@pytest.hookimpl(trylast=True)  # after Hypothesis's own plugin has finished initialising
def pytest_sessionstart(session: pytest.Session) -> None:
    # The examples must not depend on which tests ran first (see tests/hypothesis_pool.py).
    from tests.hypothesis_pool import pin

    pin()


#: Pinned server image (the v4 client needs >= 1.27).
WEAVIATE_IMAGE = "cr.weaviate.io/semitechnologies/weaviate:1.36.2"
#: Bound on asking the Docker engine whether it is there.
DOCKER_PING_TIMEOUT_S = 3


def _engine_socket_problem() -> str | None:
    """A local engine's socket that cannot be reached, asked first with a socket we close:
    docker-py leaves its socket open when the connection is refused (a ResourceWarning)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return None  # a remote engine: docker-py judges it
    path = host.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(DOCKER_PING_TIMEOUT_S)
        try:
            probe.connect(path)
        except OSError as exc:
            return f"cannot reach the engine at {path}: {exc}"
    return None


@cache
def docker_engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None when one answers a ping."""
    if problem := _engine_socket_problem():
        return problem
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
