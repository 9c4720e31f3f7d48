"""Settings shared by every service (environment variables, validated at start-up)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The ``SWITCHBOARD_ENV`` under which a service accepts its built-in placeholder secrets.
DEVELOPMENT = "development"
#: ``SWITCHBOARD_ENV`` when it is unset: whatever is not marked development is production, so
#: a forgotten variable fails closed. The demo, the tests and compose's offline profile set it.
DEFAULT_ENVIRONMENT = "production"
#: How placeholder secrets begin: the services' built-in ones (``dev-admin-token``…) and those
#: of ``.env.example`` (``replace-me``, ``sk-replace-me``).
PLACEHOLDER_PREFIXES = ("dev-", "replace-me", "sk-replace-me", "sk-offline", "changeme")


def is_placeholder(secret: SecretStr | str | None) -> bool:
    """Whether a secret is missing, empty or one of the well-known placeholders."""
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret or ""
    return not value.strip() or value.strip().lower().startswith(PLACEHOLDER_PREFIXES)


def require_secret(environment: str, name: str, secret: SecretStr | str | None) -> None:
    """Refuse (``ValueError``, so settings validation fails at start-up) a missing or
    placeholder secret unless ``environment`` is development."""
    if environment != DEVELOPMENT and is_placeholder(secret):
        raise ValueError(
            f"{name} must be set to a real secret: SWITCHBOARD_ENV is {environment!r}, and only "
            f"{DEVELOPMENT!r} accepts a missing or placeholder one"
        )


def require_bus_credentials(environment: str) -> None:
    """Refuse, unless ``environment`` is development, a bus connection without a NATS user and
    a real password (``NATS_USER``/``NATS_PASSWORD``, or in ``NATS_URL``): outside development
    the bus carries every call's audio and transcript, and each service signs in as its own
    user with only its own permissions."""
    if environment == DEVELOPMENT:
        return
    nats = NatsSettings()
    user, password = nats.user, nats.password.get_secret_value() if nats.password else None
    for server in nats.servers:
        parts = urlsplit(server)
        user, password = user or parts.username, password or parts.password
    if not (user or "").strip():
        raise ValueError(
            f"NATS_USER must be set: SWITCHBOARD_ENV is {environment!r}, and only "
            f"{DEVELOPMENT!r} connects to the bus without a user"
        )
    require_secret(environment, "NATS_PASSWORD", password)


class NatsSettings(BaseSettings):
    """How a service reaches the bus. Env: ``NATS_URL``, ``NATS_USER``, ``NATS_PASSWORD``…"""

    model_config = SettingsConfigDict(env_prefix="NATS_", extra="ignore")

    url: str = Field("nats://127.0.0.1:4222", description="Comma-separated server URLs.")
    user: str | None = None
    password: SecretStr | None = None
    reconnect_wait_s: float = Field(
        0.1,
        gt=0,
        description="Pause before trying a server again that was tried that recently. A "
        "cluster's other nodes are tried at once; this paces the retries of a lone server that "
        "is down, so it bounds the extra silence after it comes back.",
    )
    connect_timeout_s: float = Field(2.0, gt=0)
    pending_bytes_limit: int = Field(
        16 * 1024 * 1024,
        gt=0,
        description="What the client buffers while reconnecting (publishes queue up to this "
        "and go out once connected; beyond it a publish fails), and per subscription before "
        "slow-consumer drops.",
    )
    flusher_queue_size: int = Field(4096, gt=0)
    ping_interval_s: float = Field(
        2.0,
        gt=0,
        description="Client PINGs: a server that vanished without closing the connection (a "
        "partition, a dead host) is noticed after ping_interval_s * (max_outstanding_pings+1).",
    )
    max_outstanding_pings: int = Field(2, ge=1)
    close_timeout_s: float = Field(
        2.0,
        gt=0,
        description="How long closing the connection at exit may take: a drain delivers what "
        "is in flight, and past this, or with the bus already away, the connection is closed "
        "without one (nats-py alone would wait out its 10 s flush timeout).",
    )
    dont_randomize: bool = Field(
        False,
        description="Try the servers in the order given instead of shuffled (tests pin "
        "clients to a node this way; a deployment spreads them).",
    )

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.url.split(",") if s.strip()]
