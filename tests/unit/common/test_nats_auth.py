"""NATS users and permissions derived from the bus catalog (the real server applies them in
tests/integration/test_nats_permissions.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from switchboard_common import nats_auth
from switchboard_common.catalog import CATALOG, Service
from switchboard_common.nats_auth import inbox_prefix, permissions_for

ROOT = Path(__file__).resolve().parents[3]


def test_the_checked_in_helm_values_are_current() -> None:
    path = ROOT / nats_auth.HELM_VALUES
    assert path.read_text() == nats_auth.helm_values(), "stale: run `make docs`"


def test_the_check_mode_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "values.yaml"
    stale.write_text("config: {}\n")
    assert nats_auth.main(["--check", "--out", str(stale)]) == 1
    assert nats_auth.main(["--out", str(stale)]) == 0
    assert nats_auth.main(["--check", "--out", str(stale)]) == 0


@pytest.mark.parametrize("service", list(Service), ids=str)
def test_every_user_reads_only_its_own_inbox(service: Service) -> None:
    allowed = permissions_for(service).subscribe
    assert f"{inbox_prefix(service.value)}.>" in allowed
    assert not any(s.startswith("_INBOX") and service.value not in s for s in allowed)
    assert ">" not in allowed and "*" not in permissions_for(service).publish


def test_permissions_follow_the_catalog() -> None:
    gateway, agent, knowledge = (permissions_for(s) for s in nats_auth.SERVICE_USERS)
    audio_out = CATALOG.channel("agentAudio").wildcard
    assert audio_out in agent.publish and audio_out not in gateway.publish
    assert CATALOG.channel("agentDispatch").wildcard in agent.subscribe
    assert agent.allow_responses and knowledge.allow_responses  # dispatch, queries
    assert "$SRV.PING" in knowledge.subscribe  # nats.micro discovery
    assert not permissions_for(Service.CONSUMER).allow_responses
    # Only the catalog's writers of a bucket may put into it.
    assert "$KV.sb_calls.>" in gateway.publish and "$KV.sb_calls.>" in agent.publish
    assert "$KV.sb_calls.>" not in knowledge.publish


def test_the_local_server_config_has_every_user(tmp_path: Path) -> None:
    passwords = {s.value: f"pw-{s.value}" for s in Service} | {"harness": "pw-h"}
    config = json.loads(
        nats_auth.server_config(
            host="127.0.0.1",
            port=4222,
            store_dir=str(tmp_path),
            passwords=passwords,
            superusers=["harness"],
        )
    )
    users = {u["user"]: u for u in config["authorization"]["users"]}
    assert set(users) == {*(s.value for s in Service), "harness"}
    assert "permissions" not in users["harness"]
    assert users["agent"]["permissions"] == permissions_for(Service.AGENT).as_config()
    assert config["jetstream"]["store_dir"] == str(tmp_path)


def test_the_checked_in_compose_config_is_current() -> None:
    path = ROOT / nats_auth.COMPOSE_CONF
    assert path.read_text() == nats_auth.compose_conf(), "stale: run `make docs`"
