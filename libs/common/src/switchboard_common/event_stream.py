"""The durable stream of call events: create it, publish into it, replay and tail it.

* :func:`ensure_stream` creates or updates the JetStream stream :data:`~.events.STREAM_NAME`
  over ``sb.events.>`` (file storage, a maximum age = the retention, a duplicate window).
* :class:`CallEventPublisher` is one call's publisher. It numbers the call's events (``seq`` 1,
  2, 3…) and publishes them one after another, each awaiting JetStream's acknowledgement before
  the next, with a ``Nats-Msg-Id`` of ``<call_id>:<seq>`` so a retried publish is stored once.
  Recording an event never blocks the caller and never raises: publishing happens in the
  publisher's own task, failures are retried and then logged (and leave a gap in ``seq``).
* :func:`read_call` replays one call from the stream; :func:`follow` tails it live.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypeVar

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)
from nats.js.errors import APIError, NotFoundError
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .events import (
    MSG_ID_HEADER,
    STREAM_NAME,
    STREAM_SUBJECT,
    AgentTurnEvent,
    AnyCallEvent,
    CallEndedEvent,
    CallerTurnEvent,
    CallEventBase,
    CallResumedEvent,
    CallStartedEvent,
    DtmfEvent,
    TokenUsage,
    ToolCalledEvent,
    TransferEvent,
    call_events,
    msg_id,
    parse_event,
)
from .ids import check_token

log = logging.getLogger(__name__)

#: Default retention: 30 days.
DEFAULT_RETENTION_S = 30 * 24 * 3600.0
#: Default de-duplication window (JetStream's own default).
DEFAULT_DUPLICATE_WINDOW_S = 120.0

E = TypeVar("E", bound=CallEventBase)


class EventStreamSettings(BaseSettings):
    """The stream's settings. Env: ``EVENTS_RETENTION_S``, ``EVENTS_REPLICAS``,
    ``EVENTS_DUPLICATE_WINDOW_S``. Every process that calls :func:`ensure_stream` must use the
    same values, or they will keep rewriting the stream's limits."""

    model_config = SettingsConfigDict(env_prefix="EVENTS_", extra="ignore")

    retention_s: float = Field(DEFAULT_RETENTION_S, gt=0, description="How long events are kept.")
    replicas: int = Field(1, ge=1, le=5, description="Stream replicas (1 on a single server).")
    duplicate_window_s: float = Field(
        DEFAULT_DUPLICATE_WINDOW_S, gt=0, description="How long a Nats-Msg-Id is remembered."
    )


class EventStreamError(RuntimeError):
    """The event stream cannot be used (missing, misconfigured, or JetStream unavailable)."""


# --- the stream ----------------------------------------------------------------------------


def _stream_config(
    base: StreamConfig, retention_s: float, replicas: int, duplicate_window_s: float
) -> StreamConfig:
    return dataclasses.replace(
        base,
        name=STREAM_NAME,
        description="Switchboard: every event of every call (docs/events.md)",
        subjects=[STREAM_SUBJECT],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=retention_s,
        # The window must not outlast the messages it protects.
        duplicate_window=min(duplicate_window_s, retention_s),
        num_replicas=replicas,
    )


def _same_ns(a: float | None, b: float | None) -> bool:
    return round((a or 0) * 1e9) == round((b or 0) * 1e9)


def _needs_update(have: StreamConfig, want: StreamConfig) -> bool:
    return (
        list(have.subjects or []) != list(want.subjects or [])
        or not _same_ns(have.max_age, want.max_age)
        or not _same_ns(have.duplicate_window, want.duplicate_window)
        or (have.num_replicas or 1) != (want.num_replicas or 1)
        or have.discard != want.discard
    )


async def ensure_stream(
    js: JetStreamContext,
    retention_s: float,
    replicas: int = 1,
    duplicate_window_s: float = DEFAULT_DUPLICATE_WINDOW_S,
) -> StreamInfo:
    """Create the event stream, or bring an existing one to these limits. Idempotent: a stream
    that already matches is left alone. Settings we do not manage (e.g. ``max_bytes`` set by an
    operator) are kept on update."""
    if retention_s <= 0:
        raise ValueError("retention_s must be positive")
    try:
        info = await js.stream_info(STREAM_NAME)
    except NotFoundError:
        want = _stream_config(StreamConfig(), retention_s, replicas, duplicate_window_s)
        try:
            created = await js.add_stream(want)
            log.info("created stream %s (retention %.0f s)", STREAM_NAME, retention_s)
            return created
        except APIError as exc:  # created by another process meanwhile: check it below
            log.debug("add_stream %s: %s", STREAM_NAME, exc)
            info = await js.stream_info(STREAM_NAME)
    have = info.config
    if have.storage is not None and have.storage != StorageType.FILE:
        raise EventStreamError(
            f"stream {STREAM_NAME} exists with {have.storage} storage; it must be file storage "
            "(storage cannot be changed in place: delete the stream or migrate it)"
        )
    want = _stream_config(have, retention_s, replicas, duplicate_window_s)
    if not _needs_update(have, want):
        return info
    updated = await js.update_stream(want)
    log.info("updated stream %s (retention %.0f s)", STREAM_NAME, retention_s)
    return updated


# --- publishing ----------------------------------------------------------------------------


class CallEventPublisher:
    """One call's events, numbered and published in order.

    Each event method (:meth:`caller_turn`, :meth:`agent_turn`…) stamps the event
    with the next ``seq`` and the current time, queues it and returns it at once: the call's
    hot path never waits for the bus. A task of the publisher's own publishes the queue in
    order, awaiting each acknowledgement before the next publish, with up to ``attempts`` tries
    per event under the same ``Nats-Msg-Id`` (so a retry after a lost ack is not stored twice).
    The defaults keep trying for about 25 s: long enough for a restarted server, or for a
    cluster to elect the stream a new leader after losing a node, so an outage delays events
    but does not lose them.
    An event that still fails is logged and skipped, leaving a gap in ``seq``. Call
    :meth:`aclose` when the call ends: it waits (bounded) for the queue to be published.

    Use exactly one publisher per call: ``seq`` is per publisher, and two publishers of one
    call would collide on message ids (see :meth:`resume` for a process taking a call over).
    """

    def __init__(
        self,
        js: JetStreamContext,
        business_id: str,
        call_id: str,
        *,
        attempts: int = 10,
        ack_timeout_s: float = 2.0,
        retry_backoff_s: float = 0.2,
        max_backoff_s: float = 1.0,
        max_pending: int = 1000,
        start_seq: int = 0,
        history_size: int = 500,
    ) -> None:
        self.business_id = check_token(business_id, "business id")
        self.call_id = check_token(call_id, "call id")
        self._js = js
        self._attempts = max(1, attempts)
        self._ack_timeout_s = ack_timeout_s
        self._retry_backoff_s = retry_backoff_s
        self._max_backoff_s = max_backoff_s
        self._queue: asyncio.Queue[CallEventBase] = asyncio.Queue(maxsize=max_pending)
        self._seq = start_seq
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._busy = False
        #: The events recorded by this publisher, newest last: what a new Realtime session is
        #: rebuilt from when the call's link drops (bounded; a resume needs the recent past).
        self.history: deque[CallEventBase] = deque(maxlen=history_size)
        #: Counters, for metrics: stored, acknowledged as duplicates, given up, dropped.
        self.published = 0
        self.duplicates = 0
        self.failed = 0
        self.dropped = 0

    @classmethod
    async def resume(
        cls,
        js: JetStreamContext,
        business_id: str,
        call_id: str,
        **options: Any,
    ) -> CallEventPublisher:
        """A publisher that continues the numbering of a call already in the stream (for a
        process taking a call over from another). Starts at 1 for a call with no events."""
        return cls(js, business_id, call_id, start_seq=await last_seq(js, call_id), **options)

    def adopt(self, earlier: Sequence[CallEventBase]) -> None:
        """Carry on a call another process started: ``earlier`` (its stored events, in
        ``seq`` order) become this publisher's history, and numbering continues after them.
        Call before recording anything."""
        if self._seq or self.history:
            raise RuntimeError("adopt() after events were recorded")
        self.history.extend(earlier)
        self._seq = max((event.seq for event in earlier), default=0)

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last event recorded (0 before the first)."""
        return self._seq

    @property
    def pending(self) -> int:
        """Events recorded but not yet acknowledged or given up."""
        return self._queue.qsize() + (1 if self._busy else 0)

    # --- one method per event type ----------------------------------------------------------
    # Each returns the event as it will be stored, or None when the values given do not make a
    # valid event (logged and counted in ``dropped``: a bad value never raises into the call).

    def call_started(
        self, *, agent_id: str, gateway_id: str, from_number: str = "", to_number: str = ""
    ) -> CallStartedEvent | None:
        return self._emit(
            CallStartedEvent,
            agent_id=agent_id,
            gateway_id=gateway_id,
            from_number=from_number,
            to_number=to_number,
        )

    def call_resumed(
        self, *, agent_id: str, previous_agent_id: str, epoch: int, reason: str
    ) -> CallResumedEvent | None:
        return self._emit(
            CallResumedEvent,
            agent_id=agent_id,
            previous_agent_id=previous_agent_id,
            epoch=epoch,
            reason=reason,
        )

    def caller_turn(self, text: str, item_id: str = "") -> CallerTurnEvent | None:
        return self._emit(CallerTurnEvent, text=text, item_id=item_id)

    def agent_turn(
        self,
        text: str,
        item_id: str = "",
        *,
        interrupted: bool = False,
        played_ms: int | None = None,
        produced_ms: int = 0,
        latency_ms: float | None = None,
    ) -> AgentTurnEvent | None:
        return self._emit(
            AgentTurnEvent,
            text=text,
            item_id=item_id,
            interrupted=interrupted,
            played_ms=None if played_ms is None else max(0, played_ms),
            produced_ms=max(0, produced_ms),
            latency_ms=None if latency_ms is None else round(max(0.0, latency_ms), 1),
        )

    def tool_called(
        self, name: str, arguments: str, *, ok: bool, output: str, latency_ms: float
    ) -> ToolCalledEvent | None:
        return self._emit(
            ToolCalledEvent,
            name=name,
            arguments=arguments,
            ok=ok,
            output=output,
            latency_ms=max(0.0, latency_ms),
        )

    def dtmf(self, digit: str) -> DtmfEvent | None:
        return self._emit(DtmfEvent, digit=digit)

    def transfer(self, to_number: str, *, ok: bool, reason: str = "") -> TransferEvent | None:
        return self._emit(TransferEvent, to_number=to_number, ok=ok, reason=reason)

    def call_ended(
        self,
        *,
        duration_s: float,
        caller_turns: int,
        agent_turns: int,
        reason: str = "",
        usage: TokenUsage | None = None,
        detail: str = "",
    ) -> CallEndedEvent | None:
        return self._emit(
            CallEndedEvent,
            duration_s=max(0.0, duration_s),
            caller_turns=caller_turns,
            agent_turns=agent_turns,
            reason=reason,
            usage=usage,
            detail=detail[:200],
        )

    # --- lifecycle -------------------------------------------------------------------------

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every recorded event is acknowledged or given up. False on timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._queue.join()
        except TimeoutError:
            return False
        return True

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Stop recording, publish what is queued (for at most ``timeout_s``), stop the task.
        Whatever is still queued after that is dropped and logged."""
        self._closed = True
        if not await self.flush(timeout_s):
            log.warning(
                "call %s: %d event(s) not published within %.1f s of the call's end",
                self.call_id,
                self.pending,
                timeout_s,
            )
            self.dropped += self.pending
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        while not self._queue.empty():  # what the cancelled task never reached
            self._queue.get_nowait()
            self._queue.task_done()

    async def __aenter__(self) -> CallEventPublisher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- internals -------------------------------------------------------------------------

    def _emit(self, model: type[E], **fields: Any) -> E | None:
        self._seq += 1
        try:
            event = model(
                call_id=self.call_id, business_id=self.business_id, seq=self._seq, **fields
            )
        except ValidationError as exc:
            self.dropped += 1
            log.warning(
                "call %s: invalid %s #%d dropped: %s", self.call_id, model.__name__, self._seq, exc
            )
            return None
        return self._record(event)

    def _record(self, event: E) -> E:
        if self._closed:
            self.dropped += 1
            log.warning(
                "call %s: %s #%d after close, dropped", self.call_id, event.type_name, event.seq
            )
            return event
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning(
                "call %s: %d events waiting for the bus, %s #%d dropped",
                self.call_id,
                self._queue.qsize(),
                event.type_name,
                event.seq,
            )
            return event
        self.history.append(event)
        if self._worker is None or self._worker.done():
            # The task lives only while there is something to publish, so an idle publisher
            # (or one never closed) holds no task.
            self._worker = asyncio.get_running_loop().create_task(
                self._run(), name=f"call-events-{self.call_id}"
            )
        return event

    async def _run(self) -> None:
        while not self._queue.empty():
            event = self._queue.get_nowait()
            self._busy = True
            try:
                await self._publish(event)
            except Exception:  # never let one event stop the rest
                self.failed += 1
                log.exception("call %s: event #%d not published", self.call_id, event.seq)
            finally:
                self._busy = False
                self._queue.task_done()

    async def _publish(self, event: CallEventBase) -> None:
        subject = event.subject
        payload = event.to_bytes()
        ident = msg_id(self.call_id, event.seq)
        for attempt in range(1, self._attempts + 1):
            try:
                ack = await self._js.publish(
                    subject,
                    payload,
                    timeout=self._ack_timeout_s,
                    stream=STREAM_NAME,
                    headers={MSG_ID_HEADER: ident},
                )
            except (nats.errors.Error, TimeoutError) as exc:
                if attempt == self._attempts:
                    self.failed += 1
                    log.warning(
                        "call %s: %s #%d not stored after %d attempts: %s",
                        self.call_id,
                        event.type_name,
                        event.seq,
                        attempt,
                        exc or type(exc).__name__,
                    )
                    return
                log.debug(
                    "call %s: publish #%d failed (%s), retrying", self.call_id, event.seq, exc
                )
                await asyncio.sleep(
                    min(self._max_backoff_s, self._retry_backoff_s * 2 ** (attempt - 1))
                )
                continue
            if ack.duplicate:
                self.duplicates += 1
            else:
                self.published += 1
            return


# --- reading -------------------------------------------------------------------------------


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
