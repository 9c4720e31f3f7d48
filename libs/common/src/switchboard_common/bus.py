"""Connecting to NATS the same way everywhere: reconnect forever, bounded buffers, drain on exit."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client

from . import logs
from .metrics import NATS_DISCONNECTS, NATS_ERRORS, NATS_RECONNECTS
from .nats_auth import inbox_prefix
from .settings import NatsSettings

log = logging.getLogger(__name__)

#: The errors that mean "the bus is away or overloaded, try again", as opposed to a request the
#: bus refused (a bad key, a wrong revision), which is a bug or a conflict to report as such.
BUS_UNAVAILABLE: tuple[type[Exception], ...] = (
    nats.errors.TimeoutError,
    nats.errors.NoServersError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.FlushTimeoutError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,
)


async def connect(settings: NatsSettings, name: str, service: str | None = None) -> Client:
    """Open a connection that keeps reconnecting for as long as the process lives.

    A dead bus must not kill a service: ``max_reconnect_attempts=-1`` retries forever and the
    callbacks log and count each transition (``service`` labels the counters; by default the
    name given to :func:`~switchboard_common.logs.configure_logging`), while the bounded
    pending limits turn a slow consumer into counted drops instead of unbounded memory.
    """
    watch = ConnectionWatch(service or logs.service_name())

    password = settings.password.get_secret_value() if settings.password else None
    watch.client = await nats.connect(
        servers=settings.servers,
        name=name,
        user=settings.user,
        password=password,
        # Per-user inboxes: NATS permissions then keep each service's replies its own.
        inbox_prefix=client_inbox_prefix(settings),
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=settings.reconnect_wait_s,
        connect_timeout=settings.connect_timeout_s,
        ping_interval=settings.ping_interval_s,
        max_outstanding_pings=settings.max_outstanding_pings,
        dont_randomize=settings.dont_randomize,
        pending_size=settings.pending_bytes_limit,
        flusher_queue_size=settings.flusher_queue_size,
        error_cb=watch.on_error,
        disconnected_cb=watch.on_disconnected,
        reconnected_cb=watch.on_reconnected,
    )
    return watch.client


def client_inbox_prefix(settings: NatsSettings) -> str:
    """The inbox prefix NATS permissions allow this client's user (from ``NATS_USER`` or the
    URL's ``user:password@``): every client of the bus, CLIs included, must use it."""
    return inbox_prefix(settings.user or _url_user(settings.servers))


def _url_user(servers: list[str]) -> str | None:
    """The user named in a server URL (``nats://user:password@host``), if any."""
    for server in servers:
        if user := urlsplit(server).username:
            return user
    return None


class ConnectionWatch:
    """The connection's callbacks: a log line and a counter per transition. A disconnect of
    our own making (``close``/``drain``, after which nats-py reports one too) is not counted."""

    def __init__(self, service: str) -> None:
        self.client: Client | None = None
        self._errors = NATS_ERRORS.labels(service)
        self._disconnects = NATS_DISCONNECTS.labels(service)
        self._reconnects = NATS_RECONNECTS.labels(service)

    async def on_error(self, exc: Exception) -> None:
        self._errors.inc()
        log.warning("nats error: %s", exc)

    async def on_disconnected(self) -> None:
        if self.client is not None and (self.client.is_closed or self.client.is_draining):
            return
        self._disconnects.inc()
        log.warning("nats disconnected")
        run_disconnect_hooks(self.client)

    async def on_reconnected(self) -> None:
        self._reconnects.inc()
        log.info("nats reconnected")
        if self.client is not None:
            run_reconnect_hooks(self.client)


#: What to redo after a reconnect, per connection (see :func:`on_reconnect`).
_reconnect_hooks: weakref.WeakKeyDictionary[Client, list[Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)
#: What to do when a connection is lost, per connection (see :func:`on_disconnect`).
_disconnect_hooks: weakref.WeakKeyDictionary[Client, list[Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)


def _run_hooks(hooks: list[Callable[[], None]], what: str) -> None:
    for hook in list(hooks):
        try:
            hook()
        except Exception:
            log.exception("a %s hook failed", what)


def run_reconnect_hooks(nc: Client) -> None:
    """What a client's ``reconnected_cb`` calls (done for you by :func:`connect`)."""
    _run_hooks(_reconnect_hooks.get(nc, []), "reconnect")


def run_disconnect_hooks(nc: Client | None) -> None:
    """What a client's ``disconnected_cb`` calls (done for you by :func:`connect`)."""
    if nc is not None:
        _run_hooks(_disconnect_hooks.get(nc, []), "disconnect")


def on_disconnect(nc: Client, hook: Callable[[], None]) -> None:
    """Call ``hook`` each time ``nc`` (made by :func:`connect`) loses its server, before it
    tries the next one (not when it is closed or drained on purpose). Whatever judges others
    by what it hears on the bus stops judging here (it can hear nothing now)."""
    _disconnect_hooks.setdefault(nc, []).append(hook)


def on_reconnect(nc: Client, hook: Callable[[], None]) -> None:
    """Call ``hook`` each time ``nc`` (made by :func:`connect`) reconnects.

    Core subscriptions are restored by nats-py itself, but a JetStream consumer the server
    lost (an ephemeral one, after a restart of the server) is not: whoever reads through one
    (a KV watch, an event follower) starts it again from here."""
    _reconnect_hooks.setdefault(nc, []).append(hook)


@asynccontextmanager
async def connected(
    settings: NatsSettings, name: str, service: str | None = None
) -> AsyncIterator[Client]:
    """A connection that is drained (in-flight messages delivered) when the block exits."""
    nc = await connect(settings, name, service)
    try:
        yield nc
    finally:
        await close(nc, settings.close_timeout_s)


async def close(nc: Client, timeout_s: float) -> None:
    """Drain ``nc`` (in-flight messages delivered) within ``timeout_s``; when the bus is away,
    or the drain does not end in time, close it without one. Never raises: at shutdown the
    bus may already be gone, and that must not make the exit slow or noisy."""
    if nc.is_closed:
        return
    if nc.is_connected:
        try:
            async with asyncio.timeout(timeout_s):
                await nc.drain()
        except Exception as exc:  # TimeoutError, or the bus lost mid-drain
            log.info("nats drain did not finish: %r", exc)
    if not nc.is_closed:
        try:
            await nc.close()
        except Exception as exc:  # nats-py, mid-reconnect, on a dead transport
            log.info("nats close failed: %r", exc)


async def flush_published(nc: Client) -> None:
    """Return once the server has processed everything ``nc`` sent before the call.

    ``Client.flush()`` in nats-py 2.16 writes its PING straight to the socket while earlier
    PUBs and SUBs still wait in the client's buffer for the flusher task, so its PONG can
    come back before they reach the server. The first flush lets the flusher write them
    (it runs before the PONG can be read); the second's PING then follows them on the wire.
    """
    await nc.flush()
    await nc.flush()
