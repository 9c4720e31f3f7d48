"""Agent configuration, from the environment."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.audio import BYTES_PER_MS
from switchboard_common.settings import DEFAULT_ENVIRONMENT, require_bus_credentials, require_secret

from .tools.breaker import BreakerPolicy


def _default_agent_id() -> str:
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())
    return f"agent-{host[:40]}-{os.getpid()}"


class AgentSettings(BaseSettings):
    """``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` are the SDK's own names: pointing the base URL
    at the Realtime simulator is how the agent runs offline."""

    model_config = SettingsConfigDict(env_prefix="AGENT_", extra="ignore")

    environment: str = Field(
        DEFAULT_ENVIRONMENT,
        validation_alias=AliasChoices("SWITCHBOARD_ENV", "AGENT_ENVIRONMENT"),
        description="Only 'development' accepts a missing OPENAI_API_KEY.",
    )
    openai_api_key: SecretStr = Field(
        SecretStr("sk-offline"), validation_alias=AliasChoices("OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(None, validation_alias=AliasChoices("OPENAI_BASE_URL"))
    model: str = Field(
        "gpt-realtime", validation_alias=AliasChoices("REALTIME_MODEL", "AGENT_MODEL")
    )
    transcription_model: str = "gpt-4o-mini-transcribe"
    agent_id: str = Field(default_factory=_default_agent_id)
    max_calls: int = Field(50, ge=1, description="Calls one process takes before leaving the pool.")
    #: A lost agent is noticed after 3 missed beats (the gateway's `agent_missed_beats`): 0.75 s.
    heartbeat_interval_s: float = Field(0.25, gt=0)
    start_timeout_s: float = Field(
        30.0, gt=0, description="How long a taken call may wait for its media stream to start."
    )
    offer_confirm_s: float = Field(
        5.0,
        gt=0,
        description="When a taken call's stream has not started after this long, the agent "
        "reads the call's record once and lets the call go if the record does not name it "
        "(it accepted after the gateway had stopped waiting). More than the gateway's offer "
        "timeout (2 s).",
    )
    media_timeout_s: float = Field(
        8.0,
        gt=0,
        description="End a call whose caller audio stopped (its gateway is gone) and did not "
        "come back on a new stream: its Realtime session and slot are freed within this.",
    )
    stream_reentry_wait_s: float = Field(
        1.5,
        gt=0,
        description="Caller audio stopped this long (the call's gateway died) and the call not "
        "back through Twilio's action URL: ask a gateway to redirect it to a new stream.",
    )
    realtime_open_retry_delays_s: list[float] = Field(
        default_factory=lambda: [0.2, 0.5, 1.0, 2.0],
        description="Pauses between Realtime open attempts; the last repeats until the outage "
        "window runs out.",
    )
    realtime_outage_window_s: float = Field(
        10.0,
        gt=0,
        description="How long a call keeps trying to reach the model after its link dropped, "
        "before the apology.",
    )
    realtime_holding_after_s: float = Field(
        1.0,
        ge=0,
        description="The model unreachable this long: the caller hears our holding line.",
    )
    realtime_session_rollover_s: float = Field(
        55 * 60.0,
        gt=0,
        description="Move a call to a new Realtime session after this long, at the next quiet "
        "moment (the agent silent, nothing playing, no answer on its way; a caller mid-sentence "
        "is replayed to the new session).",
    )
    realtime_session_cap_s: float = Field(
        60 * 60.0,
        gt=0,
        description="The provider's session cap (OpenAI: 60 minutes): a session it cuts costs "
        "the call a reconnect.",
    )
    realtime_rollover_margin_s: float = Field(
        30.0,
        gt=0,
        description="With no quiet moment before this long ahead of the cap, the call moves to "
        "a new session anyway: the reply in progress is cut where the caller stopped hearing "
        "it and the new session goes on from there. Covers the once-a-second check, a turn "
        "whose answer is on its way (waited for up to 5 s) and opening the new session.",
    )
    realtime_max_reconnects: int = Field(
        3, ge=0, description="Reconnects per call after the Realtime connection drops."
    )
    clear_timeout_s: float = Field(0.5, gt=0, description="Wait for the gateway on a barge-in.")
    businesses_file: Path | None = Field(
        None, validation_alias=AliasChoices("SWITCHBOARD_BUSINESSES_FILE", "AGENT_BUSINESSES_FILE")
    )
    vad_threshold: float = Field(0.5, ge=0, le=1)
    vad_prefix_padding_ms: int = Field(300, ge=0)
    vad_silence_duration_ms: int = Field(500, ge=0)
    interrupt_response: bool = Field(
        True, description="Let the server cancel its response when the caller starts talking."
    )
    metrics_port: int | None = Field(None, description="Serve Prometheus metrics on this port.")
    metrics_host: str = "127.0.0.1"
    early_audio_buffer_ms: int = Field(
        2000, ge=0, description="Caller audio kept while the Realtime session is still opening."
    )
    knowledge_deadline_s: float = Field(
        1.5,
        gt=0,
        description="How long a knowledge query may take; then the model is told, in plain "
        "words, that the documents could not be searched (a later answer is dropped).",
    )
    tool_holding_delay_s: float = Field(
        0.7,
        ge=0,
        description="If a tool is still running this long after the caller stopped speaking "
        "and nothing has been said since, the model says a short holding phrase.",
    )
    tool_holding_phrase: str = Field(
        "One moment while I check that.",
        min_length=1,
        max_length=120,
        pattern=r'^[^"“”]+$',
        description="The holding phrase (one short sentence, without double quotes).",
    )
    tool_breaker_failures: int = Field(
        3, ge=1, description="Consecutive failures of a tool backend that open its breaker."
    )
    tool_breaker_window_s: float = Field(
        30.0, gt=0, description="Failures of a tool backend further apart do not add up."
    )
    tool_breaker_cooldown_s: float = Field(
        15.0, gt=0, description="An open breaker fails calls at once this long, then tries one."
    )

    @model_validator(mode="after")
    def _refuse_a_missing_key_outside_development(self) -> AgentSettings:
        require_secret(self.environment, "OPENAI_API_KEY", self.openai_api_key)
        require_bus_credentials(self.environment)
        return self

    @model_validator(mode="after")
    def _roll_over_before_the_cap(self) -> AgentSettings:
        deadline = self.realtime_session_cap_s - self.realtime_rollover_margin_s
        if deadline <= 0:
            raise ValueError("realtime_rollover_margin_s must be shorter than the session cap")
        if self.realtime_session_rollover_s > deadline:
            raise ValueError(
                "realtime_session_rollover_s must come before the rollover deadline "
                f"(the cap less the margin: {deadline:g} s)"
            )
        return self

    def breaker_policy(self) -> BreakerPolicy:
        return BreakerPolicy(
            failures=self.tool_breaker_failures,
            window_s=self.tool_breaker_window_s,
            cooldown_s=self.tool_breaker_cooldown_s,
        )

    @property
    def early_audio_pending_bytes(self) -> int:
        """The caller-audio subscription's pending limit: the early buffer with room to spare
        (NATS counts payload bytes; a slow consumer past it loses audio)."""
        return self.early_audio_buffer_ms * BYTES_PER_MS * 8
