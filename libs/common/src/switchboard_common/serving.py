"""Serving an ASGI app on a socket we bound ourselves (so port 0 works), announcing the
address on stdout only once the server really accepts connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Generator
from types import FrameType
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
        if self.started and self._announcement:
            print(self._announcement, flush=True)


def server_config(app: Any, **overrides: Any) -> uvicorn.Config:
    """Quiet uvicorn; once :func:`~switchboard_common.logs.configure_logging` ran, its records
    go through the service's own handler (JSON, tagged) instead of uvicorn's text one."""
    options: dict[str, Any] = {"log_level": "warning", "access_log": False}
    if logs.is_configured():
        options["log_config"] = None
    options.update(overrides)
    return uvicorn.Config(app, **options)


class DrainingServer(AnnouncingServer):
    """A server whose first SIGTERM/SIGINT drains instead of stopping.

    uvicorn's own shutdown closes every WebSocket at once (1012), which would cut live calls.
    Here the first signal runs ``drain`` (the service stops taking work and waits for what it
    holds, up to its deadline) and only then lets uvicorn shut down; a second signal, or
    ``drain`` returning, shuts down as uvicorn normally does.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        announcement: str,
        drain: Callable[[asyncio.Event], Awaitable[None]],
    ) -> None:
        super().__init__(config, announcement)
        self._drain = drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self._stop_now = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is None or self.should_exit:
            super().handle_exit(sig, frame)
            return
        if self._drain_task is not None:  # a second signal: now
            self._loop.call_soon_threadsafe(self._stop_now.set)
            super().handle_exit(sig, frame)
            return
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        if self._drain_task is None:
            self._drain_task = asyncio.create_task(self._drain_then_exit(), name="drain")

    async def _drain_then_exit(self) -> None:
        try:
            await self._drain(self._stop_now)
        except Exception:
            logging.getLogger(__name__).exception("drain failed; stopping now")
        finally:
            self.should_exit = True


class QuietServer(AnnouncingServer):
    """A server that leaves the process's signals alone: for a side server (the agent's ops
    port) in a process whose own :class:`~.lifecycle.StopSignals` decide when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield
