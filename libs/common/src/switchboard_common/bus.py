"""Connecting to NATS the same way everywhere: reconnect forever, bounded buffers, drain on exit."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
from nats.aio.client import Client

from .settings import NatsSettings

log = logging.getLogger(__name__)


async def connect(settings: NatsSettings, name: str) -> Client:
    """Open a connection that keeps reconnecting for as long as the process lives.

    A dead bus must not kill a service: ``max_reconnect_attempts=-1`` retries forever and the
    callbacks log each transition, while the bounded pending limits turn a slow consumer into
    counted drops instead of unbounded memory.
    """

    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    async def on_disconnected() -> None:
        log.warning("nats disconnected")

    async def on_reconnected() -> None:
        log.info("nats reconnected")

    password = settings.password.get_secret_value() if settings.password else None
    return await nats.connect(
        servers=settings.servers,
        name=name,
        user=settings.user,
        password=password,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=settings.reconnect_wait_s,
        connect_timeout=settings.connect_timeout_s,
        pending_size=settings.pending_bytes_limit,
        flusher_queue_size=settings.flusher_queue_size,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
    )


@asynccontextmanager
async def connected(settings: NatsSettings, name: str) -> AsyncIterator[Client]:
    """A connection that is drained (in-flight messages delivered) when the block exits."""
    nc = await connect(settings, name)
    try:
        yield nc
    finally:
        if not nc.is_closed:
            try:
                await nc.drain()
            except Exception as exc:  # the bus may already be gone at shutdown
                log.info("nats drain failed: %s", exc)
                await nc.close()
