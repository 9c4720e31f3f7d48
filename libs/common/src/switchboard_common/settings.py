"""Settings shared by every service (environment variables, validated at start-up)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class NatsSettings(BaseSettings):
    """How a service reaches the bus. Env: ``NATS_URL``, ``NATS_USER``, ``NATS_PASSWORD``…"""

    model_config = SettingsConfigDict(env_prefix="NATS_", extra="ignore")

    url: str = Field("nats://127.0.0.1:4222", description="Comma-separated server URLs.")
    user: str | None = None
    password: SecretStr | None = None
    reconnect_wait_s: float = Field(0.5, gt=0, description="Pause between reconnect attempts.")
    connect_timeout_s: float = Field(2.0, gt=0)
    pending_bytes_limit: int = Field(
        16 * 1024 * 1024, gt=0, description="Per-subscription buffer before slow-consumer drops."
    )
    flusher_queue_size: int = Field(4096, gt=0)

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.url.split(",") if s.strip()]
