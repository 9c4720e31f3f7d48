"""How a service stops without dropping calls, and how it tells Kubernetes where it stands.

A pod that is asked to stop (SIGTERM) *drains*: readiness turns false at once (so no new work
is routed to it), it takes no new calls, the calls it holds run to their end up to
``SWITCHBOARD_DRAIN_TIMEOUT_S``, and only then does it drain its NATS connection and exit. A
second SIGTERM or SIGINT skips the wait.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import make_asgi_app
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)


class DrainSettings(BaseSettings):
    """Env: ``SWITCHBOARD_DRAIN_TIMEOUT_S``: how long running calls may go on after SIGTERM.

    Size the pod's ``terminationGracePeriodSeconds`` a little above it."""

    model_config = SettingsConfigDict(extra="ignore")

    timeout_s: float = Field(
        900.0,
        ge=0,
        validation_alias=AliasChoices("SWITCHBOARD_DRAIN_TIMEOUT_S", "timeout_s"),
    )


class StopSignals:
    """SIGTERM/SIGINT on the running loop: the first starts draining, the next one means now.

    ``draining`` is set by the first signal, ``now`` by the second (or by the drain's end)."""

    def __init__(self) -> None:
        self.draining = asyncio.Event()
        self.now = asyncio.Event()

    def install(self) -> StopSignals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.signal, sig)
        return self

    def signal(self, sig: int = signal.SIGTERM) -> None:
        if self.draining.is_set():
            log.warning("second stop signal (%s): stopping now", signal.Signals(sig).name)
            self.now.set()
        else:
            log.info("stop signal (%s): draining", signal.Signals(sig).name)
            self.draining.set()


async def wait_until_idle(
    active: Callable[[], int], deadline_s: float, stop_now: asyncio.Event | None = None
) -> bool:
    """Until ``active()`` is 0, the deadline passes or ``stop_now`` is set; True when idle.

    Polled (4 Hz): calls end on their own schedule and the pollers here are cheap."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while active() > 0:
        left = end - loop.time()
        if left <= 0 or (stop_now is not None and stop_now.is_set()):
            return False
        if stop_now is None:
            await asyncio.sleep(min(0.25, left))
        else:
            try:
                async with asyncio.timeout(min(0.25, left)):
                    await stop_now.wait()
            except TimeoutError:
                pass
    return True


Readiness = Callable[[], dict[str, Any]]
"""Returns the readiness body; its ``"ready"`` key decides 200 or 503."""

_ASGIReceive = Callable[[], Awaitable[dict[str, Any]]]
_ASGISend = Callable[[dict[str, Any]], Awaitable[None]]


def ops_app(readiness: Readiness) -> Callable[..., Awaitable[None]]:
    """A minimal ASGI app with ``/healthz``, ``/readyz`` and ``/metrics`` for a service that has
    no HTTP API of its own (the agent). Served by uvicorn like the others."""
    import orjson

    metrics = make_asgi_app()

    async def app(scope: dict[str, Any], receive: _ASGIReceive, send: _ASGISend) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/metrics":
            await metrics(scope, receive, send)
            return
        if path == "/healthz":
            status, body = 200, {"status": "ok"}
        elif path == "/readyz":
            body = readiness()
            status = 200 if body.get("ready") else 503
        else:
            status, body = 404, {"detail": "not found"}
        payload = orjson.dumps(body)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app
