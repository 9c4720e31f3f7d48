"""Run the gateway: ``python -m switchboard_gateway`` (configured by the environment)."""

from __future__ import annotations

import asyncio

from switchboard_common.runtime import run
from switchboard_common.serving import DrainingServer, bind, server_config
from switchboard_common.telemetry import init_telemetry

from .app import create_app
from .settings import GatewaySettings


def main() -> None:
    init_telemetry("gateway")
    settings = GatewaySettings()
    sock, url = bind(settings.host, settings.port)
    app = create_app(settings)
    config = server_config(
        app,
        ws_max_size=settings.max_message_bytes,
        ws_ping_interval=None,  # Twilio does not answer pings; a dead call ends with its TCP
        lifespan="on",
        timeout_graceful_shutdown=5,
    )

    async def drain(stop_now: asyncio.Event) -> None:
        await app.state.ctx.drain(stop_now)

    run(DrainingServer(config, f"GATEWAY_URL={url}", drain).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
