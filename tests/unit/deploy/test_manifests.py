"""The Kubernetes manifests, rendered by the real kustomize (``kubectl kustomize``: base and
both overlays), checked against the
Kubernetes JSON schemas and against the operational rules the services depend on: probes, drain
time, capacity kept during rollouts, scaling on active calls, secrets and network isolation."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .kustomize import KustomizeError, render

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33"
TARGETS = {"base": K8S / "base", "dev": K8S / "overlays/dev", "prod": K8S / "overlays/prod"}
SERVICES = ("gateway", "agent", "knowledge")
CALL_SERVICES = {
    "gateway": "switchboard_gateway_active_calls",
    "agent": "switchboard_agent_active_calls",
}
SECRET_ENV = {
    "OPENAI_API_KEY",
    "TWILIO_AUTH_TOKEN",
    "GATEWAY_ADMIN_TOKEN",
    "KNOWLEDGE_ADMIN_TOKEN",
    "NATS_PASSWORD",
    "KNOWLEDGE_WEAVIATE_API_KEY",
}
PRESTOP_SECONDS = 5

Obj = dict[str, Any]


@pytest.fixture(scope="module", params=sorted(TARGETS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    return request.param, render(TARGETS[request.param])


def of_kind(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def containers(objects: list[Obj]) -> list[tuple[Obj, Obj]]:
    return [
        (deployment, container)
        for deployment in of_kind(objects, "Deployment").values()
        for container in deployment["spec"]["template"]["spec"]["containers"]
    ]


def env_value(container: Obj, name: str) -> str:
    for item in container.get("env", []):
        if item["name"] == name:
            return str(item["value"])
    raise AssertionError(f"{container['name']} has no env {name}")


# --- the renderer itself ------------------------------------------------------------------


def test_a_patch_that_matches_nothing_is_refused(tmp_path: Path) -> None:
    """A typo in an overlay's patch target fails the rendering instead of being ignored."""
    base = os.path.relpath(TARGETS["base"], tmp_path)  # kustomize takes no absolute root
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: [{base}]\npatches:\n  - patch: |-\n"
        "      apiVersion: apps/v1\n      kind: Deployment\n"
        "      metadata: {name: no-such-service}\n      spec: {replicas: 3}\n"
    )
    with pytest.raises(KustomizeError, match="no-such-service"):
        render(tmp_path)


def test_overlays_change_what_they_claim_to() -> None:
    dev, prod = render(TARGETS["dev"]), render(TARGETS["prod"])
    assert {o["metadata"]["namespace"] for o in dev} == {"switchboard-dev"}
    assert {o["metadata"]["namespace"] for o in prod} == {"switchboard"}
    dev_gateway = of_kind(dev, "Deployment")["gateway"]["spec"]["template"]["spec"]
    assert env_value(dev_gateway["containers"][0], "SWITCHBOARD_ENV") == "development"
    assert env_value(dev_gateway["containers"][0], "NATS_URL") == "nats://nats:4222"  # kept
    prod_agent = of_kind(prod, "Deployment")["agent"]["spec"]["template"]["spec"]
    assert prod_agent["containers"][0]["image"] == "ghcr.io/switchboard-voice/agent:0.1.0"
    assert of_kind(prod, "HorizontalPodAutoscaler")["agent"]["spec"]["maxReplicas"] == 40
    # The three-node bus keeps every stream and bucket on all three nodes; dev has one node.
    for name, deployment in of_kind(prod, "Deployment").items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        for variable in ("EVENTS_REPLICAS", "JETSTREAM_REPLICAS"):
            assert env_value(container, variable) == "3", (name, variable)
    for deployment in of_kind(dev, "Deployment").values():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert "JETSTREAM_REPLICAS" not in {item["name"] for item in container.get("env", [])}


# --- schemas ------------------------------------------------------------------------------


def test_every_object_matches_the_strict_kubernetes_schema(
    rendered: tuple[str, list[Obj]],
) -> None:
    name, objects = rendered
    assert objects, name
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name}: {obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")


# --- pods ---------------------------------------------------------------------------------


def test_every_container_has_probes_on_declared_ports(rendered: tuple[str, list[Obj]]) -> None:
    _, objects = rendered
    for _, container in containers(objects):
        ports = {p["name"] for p in container["ports"]} | {
            p["containerPort"] for p in container["ports"]
        }
        for probe, path in (
            ("startupProbe", "/healthz"),
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
        ):
            http = container[probe]["httpGet"]
            assert http["path"] == path, (container["name"], probe)
            assert http["port"] in ports, (container["name"], probe, http["port"])


def test_agent_ops_port_is_the_one_it_is_told_to_serve(rendered: tuple[str, list[Obj]]) -> None:
    _, objects = rendered
    agent = of_kind(objects, "Deployment")["agent"]["spec"]["template"]["spec"]["containers"][0]
    port = int(env_value(agent, "AGENT_METRICS_PORT"))
    assert [p["containerPort"] for p in agent["ports"]] == [port] == [9102]
    assert env_value(agent, "AGENT_METRICS_HOST") == "0.0.0.0"


def test_every_pod_is_locked_down(rendered: tuple[str, list[Obj]]) -> None:
    _, objects = rendered
    for deployment, container in containers(objects):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, container["name"]
        assert security["runAsNonRoot"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["seccompProfile"]["type"] == "RuntimeDefault"
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), container["name"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), container["name"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], container["name"]


def test_knowledge_data_dir_is_a_volume(rendered: tuple[str, list[Obj]]) -> None:
    _, objects = rendered
    pod = of_kind(objects, "Deployment")["knowledge"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert env_value(container, "KNOWLEDGE_DATA_DIR") in mounts


def test_rollouts_never_take_capacity_away(rendered: tuple[str, list[Obj]]) -> None:
    _, objects = rendered
    deployments = of_kind(objects, "Deployment")
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        strategy = deployment["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate", name
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0, name
        assert int(strategy["rollingUpdate"]["maxSurge"]) >= 1, name


def test_grace_period_outlasts_the_drain(rendered: tuple[str, list[Obj]]) -> None:
    _, objects = rendered
    for deployment, container in containers(objects):
        pod = deployment["spec"]["template"]["spec"]
        assert container["lifecycle"]["preStop"]["exec"]["command"] == [
            "sleep",
            str(PRESTOP_SECONDS),
        ]
        drain = int(env_value(container, "SWITCHBOARD_DRAIN_TIMEOUT_S"))
        assert pod["terminationGracePeriodSeconds"] > drain + PRESTOP_SECONDS, container["name"]


def test_prod_lets_calls_run_for_fifteen_minutes() -> None:
    for deployment, container in containers(render(TARGETS["prod"])):
        if deployment["metadata"]["name"] in CALL_SERVICES:
            assert int(env_value(container, "SWITCHBOARD_DRAIN_TIMEOUT_S")) >= 900


def test_secrets_reach_containers_only_through_secret_key_refs(
    rendered: tuple[str, list[Obj]],
) -> None:
    _, objects = rendered
    for _, container in containers(objects):
        assert "envFrom" not in container, container["name"]
        for item in container["env"]:
            if item["name"] in SECRET_ENV:
                assert "value" not in item, (container["name"], item["name"])
                assert "secretKeyRef" in item["valueFrom"], (container["name"], item["name"])


def test_base_and_prod_ship_no_secret_values() -> None:
    for name in ("base", "prod"):
        assert not of_kind(render(TARGETS[name]), "Secret"), name


def test_dev_generates_every_secret_the_pods_reference() -> None:
    objects = render(TARGETS["dev"])
    secrets = of_kind(objects, "Secret")
    for _, container in containers(objects):
        for item in container["env"]:
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref and not ref.get("optional"):
                assert ref["key"] in secrets[ref["name"]]["data"], (container["name"], ref)


# --- availability and scaling -------------------------------------------------------------


def test_every_service_has_a_disruption_budget(rendered: tuple[str, list[Obj]]) -> None:
    _, objects = rendered
    budgets = of_kind(objects, "PodDisruptionBudget")
    deployments = of_kind(objects, "Deployment")
    for name in SERVICES:
        selector = budgets[name]["spec"]["selector"]["matchLabels"]
        assert selector == deployments[name]["spec"]["selector"]["matchLabels"]


def test_call_services_scale_on_active_calls_per_pod(rendered: tuple[str, list[Obj]]) -> None:
    _, objects = rendered
    autoscalers = of_kind(objects, "HorizontalPodAutoscaler")
    for name, metric in CALL_SERVICES.items():
        spec = autoscalers[name]["spec"]
        assert spec["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert [m["type"] for m in spec["metrics"]] == ["Pods"], name
        assert spec["metrics"][0]["pods"]["metric"]["name"] == metric
        assert spec["minReplicas"] <= spec["maxReplicas"]


def test_prometheus_adapter_serves_the_metrics_the_autoscalers_use() -> None:
    values = yaml.safe_load((K8S / "monitoring" / "prometheus-adapter-values.yaml").read_text())
    served = {rule["name"]["as"] for rule in values["rules"]["custom"]}
    assert set(CALL_SERVICES.values()) <= served


# --- network ------------------------------------------------------------------------------


def _egress_ports(policy: Obj) -> set[int]:
    return {p["port"] for rule in policy["spec"].get("egress", []) for p in rule["ports"]}


def test_network_is_denied_by_default(rendered: tuple[str, list[Obj]]) -> None:
    _, objects = rendered
    deny = of_kind(objects, "NetworkPolicy")["default-deny-all"]["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny
    assert "egress" not in deny


def test_each_service_talks_only_to_what_it_needs(rendered: tuple[str, list[Obj]]) -> None:
    _, objects = rendered
    policies = of_kind(objects, "NetworkPolicy")
    assert _egress_ports(policies["gateway"]) == {4222}
    assert _egress_ports(policies["agent"]) == {4222, 443}
    assert _egress_ports(policies["knowledge"]) == {4222, 443, 8080, 50051}
    # Only the gateway is reachable from outside, on its HTTP port.
    (gateway_in,) = policies["gateway"]["spec"]["ingress"]
    assert "from" not in gateway_in
    assert [p["port"] for p in gateway_in["ports"]] == [8080]
    for name, port in (("agent", 9102), ("knowledge", 8090)):
        (rule,) = policies[name]["spec"]["ingress"]
        assert rule["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ]
        assert [p["port"] for p in rule["ports"]] == [port]


# --- Helm ---------------------------------------------------------------------------------


def test_helm_values_parse_and_nats_keeps_its_promises() -> None:
    nats = yaml.safe_load((K8S / "helm" / "nats-values.yaml").read_text())
    weaviate = yaml.safe_load((K8S / "helm" / "weaviate-values.yaml").read_text())
    assert nats["config"]["jetstream"]["enabled"] is True
    assert nats["config"]["jetstream"]["fileStore"]["enabled"] is True
    assert nats["config"]["cluster"]["replicas"] == 3
    auth = yaml.safe_load((K8S / "helm" / "nats-auth-values.yaml").read_text())
    users = auth["config"]["merge"]["authorization"]["users"]
    assert [u["user"] for u in users] == ["gateway", "agent", "knowledge", "admin", "consumer"]
    for user in users:
        variable = re.fullmatch(r"<< \$(\w+) >>", user["password"])
        assert variable, user  # from the environment, never a literal
        assert "valueFrom" in nats["container"]["env"][variable.group(1)]
        assert user["permissions"]["publish"]["allow"], user["user"]
    conftest = (ROOT / "tests" / "conftest.py").read_text()
    assert f'weaviate:{weaviate["image"]["tag"]}"' in conftest


def test_readme_pins_every_chart_it_installs() -> None:
    readme = (K8S / "README.md").read_text()
    installs = re.findall(r"helm upgrade --install (\S+) (\S+)(.*?)(?=\n\S|\n\n|$)", readme, re.S)
    assert {chart for _, chart, _ in installs} >= {
        "nats/nats",
        "weaviate/weaviate",
        "prometheus-community/prometheus-adapter",
    }
    for release, chart, rest in installs:
        assert re.search(r"--version \d+\.\d+\.\d+", rest), (release, chart)
    for repo in ("nats", "weaviate", "prometheus-community"):
        assert re.search(rf"helm repo add {repo} https://", readme), repo
