"""Whatever is not marked development refuses missing and placeholder secrets, in every
service; and the HTTP services take ``PORT`` as platforms set it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from switchboard_agent.settings import AgentSettings
from switchboard_common.business_store import SeedSettings
from switchboard_common.settings import is_placeholder
from switchboard_gateway.settings import GatewaySettings
from switchboard_knowledge.settings import KnowledgeSettings

#: What every production service needs to reach the bus.
BUS = {"NATS_USER": "gateway", "NATS_PASSWORD": "q8Zx1-a-real-nats-password"}
#: What a production gateway needs besides its admin token.
GATEWAY_REST = BUS | {
    "TWILIO_AUTH_TOKEN": "AC-real-token",
    "PUBLIC_BASE_URL": "https://v.example.com",
    "KNOWLEDGE_ADMIN_TOKEN": "a-real-knowledge-secret",
}


@pytest.mark.parametrize(
    ("settings", "name", "rest"),
    [
        (GatewaySettings, "GATEWAY_ADMIN_TOKEN", GATEWAY_REST),
        (
            GatewaySettings,
            "TWILIO_AUTH_TOKEN",
            GATEWAY_REST | {"GATEWAY_ADMIN_TOKEN": "a-real-admin-secret"},
        ),
        (
            GatewaySettings,
            "KNOWLEDGE_ADMIN_TOKEN",
            GATEWAY_REST | {"GATEWAY_ADMIN_TOKEN": "a-real-admin-secret"},
        ),
        (
            GatewaySettings,
            "NATS_PASSWORD",
            GATEWAY_REST | {"GATEWAY_ADMIN_TOKEN": "a-real-admin-secret"},
        ),
        (KnowledgeSettings, "KNOWLEDGE_ADMIN_TOKEN", BUS),
        (
            KnowledgeSettings,
            "OPENAI_API_KEY",
            BUS
            | {"KNOWLEDGE_EMBEDDER": "openai", "KNOWLEDGE_ADMIN_TOKEN": "a-real-knowledge-secret"},
        ),
        (
            KnowledgeSettings,
            "NATS_PASSWORD",
            {"NATS_USER": "knowledge", "KNOWLEDGE_ADMIN_TOKEN": "a-real-knowledge-secret"},
        ),
        (AgentSettings, "OPENAI_API_KEY", BUS),
        (AgentSettings, "NATS_PASSWORD", {"NATS_USER": "agent", "OPENAI_API_KEY": "sk-real-key"}),
    ],
)
@pytest.mark.parametrize("environment", [None, "production", "staging"])
@pytest.mark.parametrize(
    "placeholder", [None, "", "dev-admin-token", "dev-knowledge-token", "replace-me", "sk-offline"]
)
def test_a_missing_or_placeholder_secret_is_refused_unless_marked_development(
    monkeypatch: pytest.MonkeyPatch,
    settings: type[BaseSettings],
    name: str,
    rest: dict[str, str],
    environment: str | None,
    placeholder: str | None,
) -> None:
    for key, value in rest.items():
        monkeypatch.setenv(key, value)
    if environment is None:  # unset means production
        monkeypatch.delenv("SWITCHBOARD_ENV", raising=False)
    else:
        monkeypatch.setenv("SWITCHBOARD_ENV", environment)
    if placeholder is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, placeholder)
    with pytest.raises(ValidationError, match=name):
        settings()

    monkeypatch.setenv("SWITCHBOARD_ENV", "development")
    settings()  # accepted when marked so

    monkeypatch.delenv("SWITCHBOARD_ENV")
    monkeypatch.setenv(name, "a-real-secret-of-some-length")
    settings()


def test_the_demo_business_is_seeded_only_in_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHBOARD_SEED_DEMO", raising=False)
    monkeypatch.delenv("SWITCHBOARD_ENV")
    assert not SeedSettings().demo
    monkeypatch.setenv("SWITCHBOARD_ENV", "development")
    assert SeedSettings().demo


@pytest.mark.parametrize("settings", [GatewaySettings, KnowledgeSettings, AgentSettings])
def test_outside_development_a_service_signs_in_to_the_bus_as_a_user(
    monkeypatch: pytest.MonkeyPatch, settings: type[BaseSettings]
) -> None:
    secrets = GATEWAY_REST | {
        "GATEWAY_ADMIN_TOKEN": "a-real-admin-secret",
        "OPENAI_API_KEY": "sk-real-key",
    }
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SWITCHBOARD_ENV", "production")
    monkeypatch.delenv("NATS_USER")
    with pytest.raises(ValidationError, match="NATS_USER"):
        settings()
    # Credentials in the URL, as nats-py takes them, count too.
    monkeypatch.delenv("NATS_PASSWORD")
    monkeypatch.setenv("NATS_URL", "nats://svc:q8Zx1-a-real-nats-password@nats-0:4222")
    settings()
    monkeypatch.setenv("NATS_URL", "nats://svc:dev-nats-gateway@nats-0:4222")
    with pytest.raises(ValidationError, match="NATS_PASSWORD"):
        settings()


def test_placeholders_are_recognised() -> None:
    assert is_placeholder(None) and is_placeholder("  ") and is_placeholder("Replace-Me-gateway")
    assert not is_placeholder("q8Zx1-generated-token")


@pytest.mark.parametrize(
    ("settings", "own"), [(GatewaySettings, "GATEWAY_PORT"), (KnowledgeSettings, "KNOWLEDGE_PORT")]
)
def test_port_as_platforms_set_it_and_the_service_s_own_variable_first(
    monkeypatch: pytest.MonkeyPatch, settings: type[GatewaySettings | KnowledgeSettings], own: str
) -> None:
    monkeypatch.delenv(own, raising=False)
    monkeypatch.setenv("PORT", "9311")
    assert settings().port == 9311
    monkeypatch.setenv(own, "9312")
    assert settings().port == 9312
