"""Knowledge service configuration, from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.settings import DEFAULT_ENVIRONMENT, require_bus_credentials, require_secret

DEV_ADMIN_TOKEN = "dev-admin-token"  # noqa: S105 - a known placeholder, refused in production


class KnowledgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KNOWLEDGE_", extra="ignore")

    environment: str = Field(
        DEFAULT_ENVIRONMENT,
        validation_alias=AliasChoices("SWITCHBOARD_ENV", "KNOWLEDGE_ENVIRONMENT"),
        description="Only 'development' accepts missing or placeholder secrets.",
    )
    backend: Literal["embedded", "weaviate"] = "embedded"
    data_dir: Path = Field(Path(".switchboard/knowledge"), description="Embedded backend files.")
    weaviate_http_host: str = "127.0.0.1"
    weaviate_http_port: int = 8080
    weaviate_grpc_port: int = 50051
    weaviate_secure: bool = False
    weaviate_api_key: SecretStr | None = None
    embedder: Literal["local", "openai"] = "local"
    model_dir: Path | None = Field(
        None,
        description="Where the local model, re-quantized for int8 arithmetic, is kept "
        "(default ~/.cache/switchboard/models; images build it in at /app/models).",
    )
    openai_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=AliasChoices("OPENAI_BASE_URL"))
    embedding_cache: bool = True
    businesses_file: Path | None = Field(
        None,
        validation_alias=AliasChoices("SWITCHBOARD_BUSINESSES_FILE", "KNOWLEDGE_BUSINESSES_FILE"),
    )
    admin_token: SecretStr = SecretStr(DEV_ADMIN_TOKEN)
    host: str = "127.0.0.1"
    port: int = Field(
        8090,
        validation_alias=AliasChoices("KNOWLEDGE_PORT", "PORT"),
        description="KNOWLEDGE_PORT, else PORT (as platforms set it), else 8090.",
    )
    max_concurrent_requests: int = Field(64, ge=1, description="Bus requests handled at once.")
    chunk_max_tokens: int = Field(200, ge=32)
    relevance_threshold: float | None = Field(
        None,
        description="Score a hit needs to count as an answer; unset: the one calibrated for "
        "the embedder and backend, or carried over from a pair on the same scale (see "
        "relevance.py), or none (a warning at start-up: every hit passes).",
    )
    chunk_overlap_tokens: int = Field(40, ge=0)
    sync_ingest_max_bytes: int = Field(
        256 * 1024, ge=0, description="Bigger HTTP uploads become a job to poll."
    )
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1024)

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> KnowledgeSettings:
        require_secret(self.environment, "KNOWLEDGE_ADMIN_TOKEN", self.admin_token)
        require_bus_credentials(self.environment)
        if self.embedder == "openai":
            require_secret(self.environment, "OPENAI_API_KEY", self.openai_api_key)
        if self.chunk_overlap_tokens >= self.chunk_max_tokens:
            raise ValueError("chunk overlap must be smaller than the chunk size")
        return self
