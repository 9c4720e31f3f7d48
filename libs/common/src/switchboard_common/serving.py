"""Serving an ASGI app on a socket we bound ourselves (so port 0 works), announcing the
address on stdout only once the server really accepts connections."""

from __future__ import annotations

import socket
from typing import Any

import uvicorn

from . import logs


def bind(host: str, port: int) -> tuple[socket.socket, str]:
    """A bound socket and its ``http://host:port`` (the real port when 0 was asked)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_host, bound_port = sock.getsockname()[:2]
    return sock, f"http://{bound_host}:{bound_port}"


class AnnouncingServer(uvicorn.Server):
    """Prints ``announcement`` once start-up (lifespan included) is done and the socket is
    served, so whoever started the process can rely on it."""

    def __init__(self, config: uvicorn.Config, announcement: str) -> None:
        super().__init__(config)
        self._announcement = announcement

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(self._announcement, flush=True)


def server_config(app: Any, **overrides: Any) -> uvicorn.Config:
    """Quiet uvicorn; once :func:`~switchboard_common.logs.configure_logging` ran, its records
    go through the service's own handler (JSON, tagged) instead of uvicorn's text one."""
    options: dict[str, Any] = {"log_level": "warning", "access_log": False}
    if logs.is_configured():
        options["log_config"] = None
    options.update(overrides)
    return uvicorn.Config(app, **options)
