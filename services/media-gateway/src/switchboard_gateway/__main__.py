"""Run the gateway: ``python -m switchboard_gateway`` (configured by the environment)."""

from __future__ import annotations

import logging
import socket

import uvicorn

from switchboard_common.runtime import run

from .app import create_app
from .settings import GatewaySettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = GatewaySettings()
    # Bind first so port 0 works and the chosen address can be announced before serving.
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        create_app(settings),
        ws_max_size=settings.max_message_bytes,
        ws_ping_interval=None,  # Twilio does not answer pings; a dead call ends with its TCP
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = _AnnouncingServer(config, f"GATEWAY_URL=http://{host}:{port}")
    run(server.serve(sockets=[sock]))


class _AnnouncingServer(uvicorn.Server):
    """Prints our address once start-up (bus connection included) is done and the socket is
    served, so whoever started us can rely on it."""

    def __init__(self, config: uvicorn.Config, announcement: str) -> None:
        super().__init__(config)
        self._announcement = announcement

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(self._announcement, flush=True)


if __name__ == "__main__":
    main()
