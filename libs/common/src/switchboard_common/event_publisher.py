"""Publishing one call's events into the durable stream, in order and without blocking.

:class:`CallEventPublisher` is one call's publisher. It numbers the call's events (``seq`` 1,
2, 3…) and publishes them one after another, each awaiting JetStream's acknowledgement before
the next, with a ``Nats-Msg-Id`` of ``<call_id>:<seq>`` so a retried publish is stored once.
Recording an event never blocks the caller and never raises: publishing happens in the
publisher's own task, failures are retried and then logged (and leave a gap in ``seq``).
:func:`end_story` writes the end of a call whose agent died with nobody to take it over.

This is the agent's hot path, with state and a task of its own; it is apart from the readers
so each can be read (and changed) without the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypeVar

import nats.errors
from nats.js import JetStreamContext
from pydantic import ValidationError

from .event_readers import by_type, last_seq, read_call
from .events import (
    MSG_ID_HEADER,
    STREAM_NAME,
    AgentTurnEvent,
    CallEndedEvent,
    CallerTurnEvent,
    CallEventBase,
    CallResumedEvent,
    CallStartedEvent,
    DtmfEvent,
    TokenUsage,
    ToolCalledEvent,
    TransferEvent,
    msg_id,
)
from .ids import check_token
from .messages import utc_now

# Named as before the publisher was split out of event_stream.py, so log filters still match.
log = logging.getLogger("switchboard_common.event_stream")

E = TypeVar("E", bound=CallEventBase)


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

    async def abandon(self) -> int:
        """This process no longer owns the call (it moved to another agent while this one was
        cut off): drop whatever is queued unpublished, so the new owner's numbering is the
        only one. Returns how many events were dropped."""
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        dropped = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
            dropped += 1
        self.dropped += dropped
        return dropped

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


async def end_story(
    js: JetStreamContext, business_id: str, call_id: str, reason: str, timeout_s: float = 5.0
) -> CallEndedEvent | None:
    """Write the ``call_ended`` of a call whose agent died with nobody to take it over (so
    nobody else will): numbered after the call's last event, with its turns counted from the
    events. Nothing when the call already has its ``call_ended``. Returns what was written."""
    events = await read_call(js, call_id, timeout_s=timeout_s)
    if any(isinstance(event, CallEndedEvent) for event in events):
        return None
    started = next((e for e in events if isinstance(e, CallStartedEvent)), None)
    duration = (utc_now() - started.at).total_seconds() if started is not None else 0.0
    publisher = CallEventPublisher(js, business_id, call_id)
    publisher.adopt(events)
    ended = publisher.call_ended(
        duration_s=duration,
        caller_turns=len(by_type(events, CallerTurnEvent)),
        agent_turns=len(by_type(events, AgentTurnEvent)),
        reason=reason,
    )
    await publisher.aclose(timeout_s)
    return ended
