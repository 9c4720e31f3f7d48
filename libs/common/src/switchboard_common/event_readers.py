"""Reading the durable event stream: one call replayed, or events tailed live.

* :func:`read_call` replays one call from the stream; :func:`last_seq` is its last ``seq``.
* :func:`follow` tails the events matching a filter (:class:`EventFollower`), surviving a
  server restart through :meth:`EventFollower.resync`.
* :func:`by_type` picks the events of one type out of a call's.

Readers are used by the gateway's API and console, the CLI and the tests, none of which
publish; the publisher uses them only to carry on a call someone else started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import TypeVar

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from .event_stream_setup import EventStreamError
from .events import (
    STREAM_NAME,
    STREAM_SUBJECT,
    AnyCallEvent,
    CallEventBase,
    call_events,
    parse_event,
)

# Named as before the readers were split out of event_stream.py, so log filters still match.
log = logging.getLogger("switchboard_common.event_stream")

E = TypeVar("E", bound=CallEventBase)


async def last_seq(js: JetStreamContext, call_id: str) -> int:
    """The highest ``seq`` of a call in the stream (0 when it has none)."""
    try:
        raw = await js.get_last_msg(STREAM_NAME, call_events(call_id))
    except NotFoundError:
        return 0
    event = parse_event(raw.data or b"")
    return event.seq if event is not None else 0


async def read_call(
    js: JetStreamContext, call_id: str, timeout_s: float = 5.0
) -> list[AnyCallEvent]:
    """Every event of one call, in the order they were stored (which is ``seq`` order).

    Replays through an ordered ephemeral consumer on ``sb.events.*.<call_id>.>`` and stops at
    the last event stored when the replay started. An empty list means the stream holds nothing
    for the call. Events this reader cannot understand are skipped. Raises ``TimeoutError``
    when the replay takes longer than ``timeout_s``, :class:`EventStreamError` when JetStream
    or the stream is unavailable, ``ValueError`` for a malformed call id.
    """
    subject = call_events(call_id)
    events: list[AnyCallEvent] = []
    sub: JetStreamContext.PushSubscription | None = None
    try:
        async with asyncio.timeout(timeout_s):
            sub = await js.subscribe(
                subject,
                stream=STREAM_NAME,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
            )
            info = await sub.consumer_info()
            delivered = info.delivered.consumer_seq if info.delivered else 0
            if not info.num_pending and not delivered:
                return []
            while True:
                msg = await sub.next_msg(timeout=None)
                event = parse_event(msg.data)
                if event is not None:
                    events.append(event)
                else:
                    log.debug("call %s: skipped an event this reader cannot read", call_id)
                if msg.metadata.num_pending == 0:
                    return events
    except NotFoundError as exc:
        raise EventStreamError(f"stream {STREAM_NAME} not found") from exc
    except nats.errors.Error as exc:
        if isinstance(exc, TimeoutError):
            raise
        raise EventStreamError(f"reading call {call_id}: {exc!r}") from exc
    finally:
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


#: How often an idle follower looks whether a resync replaced its subscription.
RESYNC_CHECK_S = 0.5


class EventFollower:
    """Live events matching a filter, as an async iterator. Enter it (``async with``) before
    whatever it must see happens: every event stored after that is delivered, in stream order.
    ``from_start`` replays what the stream holds first."""

    def __init__(self, js: JetStreamContext, filter_subject: str, from_start: bool = False) -> None:
        self._js = js
        self.filter_subject = filter_subject
        self._from_start = from_start
        self._sub: JetStreamContext.PushSubscription | None = None
        self._closed = False
        #: The stream sequence of the last message read: a resync resumes after it.
        self._last_seq = 0
        self._resyncing: asyncio.Task[None] | None = None
        #: Messages skipped because this reader cannot read them.
        self.skipped = 0

    async def start(self) -> None:
        if self._sub is not None:
            return
        self._sub = await self._subscribe()

    async def _subscribe(self) -> JetStreamContext.PushSubscription:
        if self._last_seq:
            policy, start = DeliverPolicy.BY_START_SEQUENCE, self._last_seq + 1
        else:
            policy, start = (DeliverPolicy.ALL if self._from_start else DeliverPolicy.NEW), None
        try:
            return await self._js.subscribe(
                self.filter_subject,
                stream=STREAM_NAME,
                ordered_consumer=True,
                deliver_policy=policy,
                config=ConsumerConfig(opt_start_seq=start),
            )
        except NotFoundError as exc:
            raise EventStreamError(f"stream {STREAM_NAME} not found") from exc

    def resync(self) -> None:
        """Follow again from the last event read (after a reconnect: a restarted server has
        lost the ephemeral consumer, and nats-py does not make a new one)."""
        if self._closed or self._sub is None:
            return
        if self._resyncing is None or self._resyncing.done():
            self._resyncing = asyncio.create_task(self._resubscribe())

    async def _resubscribe(self) -> None:
        old = self._sub
        try:
            self._sub = await self._subscribe()
        except Exception as exc:  # the next reconnect tries again
            log.warning("event follower could not resubscribe: %s", exc)
            return
        if old is not None:
            with contextlib.suppress(Exception):
                await old.unsubscribe()

    async def aclose(self) -> None:
        self._closed = True
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def __aenter__(self) -> EventFollower:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> EventFollower:
        return self

    async def __anext__(self) -> AnyCallEvent:
        if self._closed:
            raise StopAsyncIteration
        await self.start()
        while True:
            sub = self._sub
            assert sub is not None
            try:
                # Bounded: a resync replaces the subscription, and nats-py does not wake a
                # reader blocked on one that was unsubscribed.
                msg: Msg = await sub.next_msg(timeout=RESYNC_CHECK_S)
            except nats.errors.ConnectionClosedError:
                raise StopAsyncIteration from None
            except nats.errors.TimeoutError:
                continue  # idle, or resynced under us: read from whichever is current
            if msg.metadata is not None:
                seq = msg.metadata.sequence.stream
                if seq <= self._last_seq:
                    continue  # already read, through the subscription a resync replaced
                self._last_seq = seq
            event = parse_event(msg.data)
            if event is not None:
                return event
            self.skipped += 1


def follow(
    js: JetStreamContext, filter_subject: str = STREAM_SUBJECT, from_start: bool = False
) -> EventFollower:
    """Tail the events matching ``filter_subject`` (see :func:`.events.events_filter`)::

    async with follow(js, business_events("acme")) as events:
        async for event in events:
            ...
    """
    return EventFollower(js, filter_subject, from_start)


def by_type(events: Sequence[AnyCallEvent], event_type: type[E]) -> list[E]:
    """The events of one type, in order."""
    return [e for e in events if isinstance(e, event_type)]
