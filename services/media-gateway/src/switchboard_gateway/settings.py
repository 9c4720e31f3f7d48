"""Gateway configuration, from the environment."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.lifecycle import DrainSettings
from switchboard_common.settings import (
    DEFAULT_ENVIRONMENT,
    DEVELOPMENT,
    require_bus_credentials,
    require_secret,
)

DEV_AUTH_TOKEN = "dev-auth-token"  # noqa: S105 - a known placeholder, refused in production
DEV_ADMIN_TOKEN = "dev-admin-token"  # noqa: S105 - a known placeholder, refused in production


def _default_gateway_id() -> str:
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())
    return f"gw-{host[:40]}-{os.getpid()}"


class GatewaySettings(BaseSettings):
    """Env names follow the README (``PUBLIC_BASE_URL``, ``TWILIO_AUTH_TOKEN``…)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    environment: str = Field(
        DEFAULT_ENVIRONMENT,
        validation_alias=AliasChoices("SWITCHBOARD_ENV", "GATEWAY_ENVIRONMENT"),
        description="Only 'development' accepts missing or placeholder secrets.",
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8080",
        validation_alias=AliasChoices("PUBLIC_BASE_URL", "GATEWAY_PUBLIC_BASE_URL"),
        description="The URL Twilio reaches us at; signatures are checked against it, never "
        "against the request's own scheme/host (which a proxy rewrites).",
    )
    twilio_auth_token: SecretStr = Field(
        SecretStr(DEV_AUTH_TOKEN),
        validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "GATEWAY_TWILIO_AUTH_TOKEN"),
    )
    twilio_account_sid: str | None = Field(
        None,
        validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "GATEWAY_TWILIO_ACCOUNT_SID"),
        description="With it, transfers update the live call through Twilio's REST API; "
        "without it they go through the <Connect action> URL.",
    )
    twilio_api_base_url: str = Field(
        "https://api.twilio.com",
        validation_alias=AliasChoices("TWILIO_API_BASE_URL", "GATEWAY_TWILIO_API_BASE_URL"),
        description="Twilio's REST API (the call simulator's stand-in in tests).",
    )
    admin_token: SecretStr = Field(
        SecretStr(DEV_ADMIN_TOKEN),
        description="Bearer token of the admin API (/admin/businesses): GATEWAY_ADMIN_TOKEN.",
    )
    host: str = "127.0.0.1"
    port: int = Field(
        8080,
        validation_alias=AliasChoices("GATEWAY_PORT", "PORT"),
        description="GATEWAY_PORT, else PORT (as platforms set it), else 8080.",
    )
    gateway_id: str = Field(default_factory=_default_gateway_id)
    businesses_file: Path | None = Field(
        None,
        validation_alias=AliasChoices("SWITCHBOARD_BUSINESSES_FILE", "GATEWAY_BUSINESSES_FILE"),
    )
    dispatch_timeout_s: float = Field(2.0, gt=0, description="Wait for an agent to take a call.")
    dispatch_attempts: int = Field(3, ge=1)
    agent_missed_beats: float = Field(
        3.0, gt=1, description="An agent silent for this many heartbeat intervals is dead."
    )
    bus_probe_timeout_s: float = Field(
        1.0,
        gt=0,
        description="Before an agent is judged lost, a round trip to the bus must answer "
        "within this: a gateway cut off from the bus judges no one.",
    )
    max_message_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest Media Streams message accepted (Twilio: ~0.5 KB)."
    )
    mark_interval_ms: int = Field(
        100,
        ge=0,
        description="Audio between two marks (0: a mark after every chunk). Position between "
        "marks is interpolated from the clock; fewer marks mean fewer messages per frame.",
    )
    max_calls: int = Field(1000, ge=1, description="Concurrent media streams per process.")
    call_record_ttl_s: float = Field(3600.0, gt=0)
    knowledge_url: str = Field(
        "http://127.0.0.1:8090",
        description="The knowledge service's HTTP API, where the console uploads, lists and "
        "deletes a business's documents: GATEWAY_KNOWLEDGE_URL.",
    )
    knowledge_token: SecretStr = Field(
        SecretStr(DEV_ADMIN_TOKEN),
        validation_alias=AliasChoices("KNOWLEDGE_ADMIN_TOKEN", "GATEWAY_KNOWLEDGE_TOKEN"),
        description="The knowledge API's bearer token (the knowledge service's "
        "KNOWLEDGE_ADMIN_TOKEN).",
    )
    console_session_secret: SecretStr = Field(
        SecretStr(""),
        description="Signs the console's session cookies (GATEWAY_CONSOLE_SESSION_SECRET). "
        "Empty: a key derived from GATEWAY_ADMIN_TOKEN, so every gateway replica accepts the "
        "same sessions and changing the token signs everyone out.",
    )
    console_session_ttl_s: float = Field(
        8 * 3600.0, gt=0, description="A console session expires this long after sign-in."
    )
    drain: DrainSettings = Field(
        default_factory=DrainSettings, description="SWITCHBOARD_DRAIN_TIMEOUT_S (SIGTERM)."
    )

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> GatewaySettings:
        require_secret(self.environment, "TWILIO_AUTH_TOKEN", self.twilio_auth_token)
        require_secret(self.environment, "GATEWAY_ADMIN_TOKEN", self.admin_token)
        require_secret(self.environment, "KNOWLEDGE_ADMIN_TOKEN", self.knowledge_token)
        require_bus_credentials(self.environment)
        if self.environment != DEVELOPMENT and not self.public_base_url.startswith("https://"):
            raise ValueError("PUBLIC_BASE_URL must be https:// outside development")
        return self

    @property
    def voice_url(self) -> str:
        return self.public_base_url.rstrip("/") + "/twilio/voice"

    @property
    def stream_ended_url(self) -> str:
        """The <Connect> action URL: Twilio asks it what to do once the stream has ended."""
        return self.public_base_url.rstrip("/") + "/twilio/stream-ended"

    @property
    def transfer_ended_url(self) -> str:
        """The <Dial> action URL: Twilio reports there how a transfer's dial ended."""
        return self.public_base_url.rstrip("/") + "/twilio/transfer-ended"

    @property
    def transfer_answered_url(self) -> str:
        """The <Number> status callback: Twilio reports there that the person picked up."""
        return self.public_base_url.rstrip("/") + "/twilio/transfer-answered"

    @property
    def media_url(self) -> str:
        """The Stream URL in our TwiML, which Twilio also signs on the upgrade."""
        base = self.public_base_url.rstrip("/")
        scheme, _, rest = base.partition("://")
        ws_scheme = "wss" if scheme == "https" else "ws"
        return f"{ws_scheme}://{rest}/twilio/media"
