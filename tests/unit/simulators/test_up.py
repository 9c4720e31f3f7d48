"""``make up``'s decisions before anything starts: its mode, its secrets (made once, kept
owner-only, reused), and its gateway port."""

from __future__ import annotations

import contextlib
import socket
import stat
from pathlib import Path

import pytest

from switchboard_sim.up import (
    DEFAULT_GATEWAY_PORT,
    gateway_port,
    is_public,
    service_secrets,
    stack_environment,
)
from switchboard_sim.up_secrets import SecretsError, load_or_create

PUBLIC = {"PUBLIC_BASE_URL": "https://voice.example.com", "TWILIO_AUTH_TOKEN": "real-twilio"}


def test_a_stack_others_reach_is_production_unless_development_is_asked_for() -> None:
    assert stack_environment({}) == "development"
    assert stack_environment({"PUBLIC_BASE_URL": "http://127.0.0.1:8080"}) == "development"
    assert stack_environment({"PUBLIC_BASE_URL": "http://localhost:8080"}) == "development"
    assert stack_environment(PUBLIC) == "production"
    assert stack_environment(PUBLIC | {"SWITCHBOARD_ENV": "development"}) == "development"
    assert stack_environment({"GATEWAY_HOST": "0.0.0.0"}) == "production"  # others reach it
    assert is_public("https://10.0.0.7") and not is_public("http://[::1]:8080")


def test_tokens_are_made_once_kept_owner_only_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = load_or_create(data)
    assert sorted(first.created) == ["GATEWAY_ADMIN_TOKEN", "KNOWLEDGE_ADMIN_TOKEN"]
    assert all(len(v) >= 43 for v in first.values.values())
    assert first.values["GATEWAY_ADMIN_TOKEN"] != first.values["KNOWLEDGE_ADMIN_TOKEN"]
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert list(data.iterdir()) == [first.path]  # no scratch file left

    again = load_or_create(data)
    assert again.created == [] and again.values == first.values


def test_a_secrets_file_others_can_read_is_refused(tmp_path: Path) -> None:
    kept = load_or_create(tmp_path)
    kept.path.chmod(0o644)
    with pytest.raises(SecretsError, match="chmod 600"):
        load_or_create(tmp_path)


def test_production_needs_a_twilio_token_and_refuses_placeholders(tmp_path: Path) -> None:
    with pytest.raises(SecretsError, match="TWILIO_AUTH_TOKEN must be set"):
        service_secrets({"PUBLIC_BASE_URL": "https://voice.example.com"}, tmp_path, "production")
    with pytest.raises(SecretsError, match="GATEWAY_ADMIN_TOKEN is a placeholder"):
        service_secrets(PUBLIC | {"GATEWAY_ADMIN_TOKEN": "replace-me"}, tmp_path, "production")
    assert not (tmp_path / "secrets.env").exists()

    given = service_secrets(PUBLIC | {"GATEWAY_ADMIN_TOKEN": "mine-1234"}, tmp_path, "production")
    assert given.values["GATEWAY_ADMIN_TOKEN"] == "mine-1234"  # the environment's, not kept
    assert given.created == ["KNOWLEDGE_ADMIN_TOKEN"]
    assert "mine-1234" not in given.path.read_text()


def test_development_uses_the_well_known_placeholders(tmp_path: Path) -> None:
    dev = service_secrets({}, tmp_path, "development")
    assert dev.values["GATEWAY_ADMIN_TOKEN"] == "dev-admin-token" and dev.created == []
    assert not dev.path.exists()


def test_the_gateway_port_comes_from_the_environment_or_8080_or_a_free_one() -> None:
    assert gateway_port({"GATEWAY_PORT": "9001", "PORT": "9002"}, "127.0.0.1") == 9001
    assert gateway_port({"PORT": "9002"}, "127.0.0.1") == 9002
    with socket.socket() as taken:
        with contextlib.suppress(OSError):  # someone else holds 8080: taken all the same
            taken.bind(("127.0.0.1", DEFAULT_GATEWAY_PORT))
        assert gateway_port({}, "127.0.0.1") != DEFAULT_GATEWAY_PORT
