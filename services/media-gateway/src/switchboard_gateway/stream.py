"""One Twilio media stream bridged onto the bus: the per-call glue between adapter and bus."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from base64 import b64encode
from typing import Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import OutboundBufferLimitError
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketState

from switchboard_common import logs, subjects, tracing
from switchboard_common.audio import AudioFormatError, decode_agent_chunk, ulaw_ms
from switchboard_common.ids import TOKEN_RE
from switchboard_common.messages import (
    CallEnded,
    CallerDtmf,
    CallRecord,
    CallStarted,
    CallState,
    ClearPlayback,
    EndReason,
    HangUp,
    PlaybackIdle,
    PlaybackPosition,
    TransferCall,
    gateway_control_adapter,
)

from . import metrics
from .calls.playback import PlaybackTracker
from .context import GatewayContext
from .twilio import media_streams as wire
from .twilio import twiml
from .twilio.rest import CallControlError

log = logging.getLogger(__name__)

#: How the stream's websocket closes, by why the call ended (the call then goes on to the
#: TwiML after <Connect>). Every deliberate end is a normal closure, a gateway going away says
#: so, and only a failure is an internal error: a monitor reading close codes sees crashes.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_FAILED = 1011
CLOSE_CODES: dict[EndReason, int] = {
    EndReason.CALLER_HUNG_UP: CLOSE_NORMAL,
    EndReason.AGENT_HUNG_UP: CLOSE_NORMAL,
    EndReason.TRANSFERRED: CLOSE_NORMAL,
    EndReason.GATEWAY_SHUTDOWN: CLOSE_GOING_AWAY,
}
#: Malformed messages a single stream may send before we log only a summary.
LOG_MALFORMED_FIRST = 5
#: Longest wait for the agent's last words to play before a hang-up.
HANGUP_PLAYBACK_WAIT_S = 30.0
#: After a REST transfer, how long Twilio gets to end the stream before we close it ourselves.
REST_STOP_WAIT_S = 5.0
#: A reply's last chunk is marked once the agent has sent nothing for this long.
TAIL_MARK_S = 0.03


class MediaStreamSession:
    """Reads Twilio's messages, publishes caller audio, plays agent audio back with marks.

    A bad message is counted, logged (the first few) and dropped: it never ends the stream and
    never touches another call.
    """

    def __init__(self, ws: WebSocket, ctx: GatewayContext) -> None:
        self._ws = ws
        self._ctx = ctx
        self._nc = ctx.nc
        self.call_id = ""
        self.business_id = ""
        self.agent_id = ""
        #: The ownership epoch of the agent this stream is bound to (see :meth:`rebind`).
        self.epoch = 1
        self._stream_sid = ""
        self._audio_subject = ""
        self._playback = PlaybackTracker()
        self._subs: list[Subscription] = []
        self._malformed = 0
        self._ended = False
        self._end_lock = asyncio.Lock()
        self._idle = asyncio.Event()
        #: The transfer the agent asked for, once its last words have played.
        self._transfer_asked: TransferCall | None = None
        self._loop = asyncio.get_running_loop()
        self._mark_interval_ms = ctx.settings.mark_interval_ms
        self._unmarked_ms = 0
        self._marked = -1
        self._last_chunk_at = 0.0
        self._tail_timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._transfer_pending = False
        self._ended_event = asyncio.Event()
        self._span: Span | None = None
        #: The call's trace context, computed once per stream, on every control message
        #: (never on audio frames).
        self._control_headers: dict[str, str] = {}

    async def run(self) -> None:
        try:
            while True:
                message = await self._ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text") or message.get("bytes")
                if raw is None:
                    continue
                await self._handle(raw)
        finally:
            await self.end(EndReason.CALLER_HUNG_UP)

    async def _handle(self, raw: str | bytes) -> None:
        try:
            message = wire.parse(raw)
            event = message["event"]
            if event == "media":
                await self._on_media(message)
            elif event == "mark":
                await self._on_mark(message)
            elif event == "start":
                await self._on_start(message)
            elif event == "dtmf":
                await self._on_dtmf(message)
            elif event == "stop":
                await self.end(EndReason.CALLER_HUNG_UP)
            elif event != "connected":
                raise wire.MediaStreamError(f"unknown event {event!r}")
        except wire.MediaStreamError as exc:
            self._malformed += 1
            metrics.MALFORMED.labels(type(exc).__name__).inc()
            if self._malformed <= LOG_MALFORMED_FIRST:
                log.warning("call %s: dropped a malformed message: %s", self.call_id or "?", exc)

    # --- inbound ---------------------------------------------------------------------------

    async def _on_media(self, message: dict[str, Any]) -> None:
        if not self._audio_subject:
            raise wire.MediaStreamError("media before start")
        audio = wire.inbound_audio_of(message)
        if audio:
            try:
                await self._nc.publish(self._audio_subject, audio)
            except OutboundBufferLimitError:  # the bus is away and its buffer full: lose a frame
                metrics.FRAMES_DROPPED.labels("bus_buffer_full").inc()
                return
            metrics.FRAMES_IN.inc()

    async def _on_start(self, message: dict[str, Any]) -> None:
        if self._stream_sid:
            raise wire.MediaStreamError("a second start on one stream")
        start = wire.start_of(message)
        params = start.custom_parameters
        call_id = params.get("call_id", start.call_sid)
        business_id = params.get("business_id", "")
        agent_id = params.get("agent_id", "")
        if not all(TOKEN_RE.fullmatch(v) for v in (call_id, business_id, agent_id)):
            raise wire.MediaStreamError("start without valid call_id/business_id/agent_id")
        if call_id in self._ctx.sessions:
            raise wire.MediaStreamError(f"call {call_id} already has a stream")
        self.call_id, self.business_id, self.agent_id = call_id, business_id, agent_id
        epoch = params.get("epoch", "1")
        self.epoch = int(epoch) if epoch.isdigit() and 0 < len(epoch) < 10 else 1
        self._stream_sid = start.stream_sid
        self._begin_trace(params)
        self._ctx.sessions[call_id] = self
        metrics.ACTIVE_CALLS.inc()
        await self._bind()
        await self._nc.publish(
            subjects.agent_control(call_id, self.epoch),
            CallStarted(
                call_id=call_id,
                stream_sid=start.stream_sid,
                gateway_id=self._ctx.settings.gateway_id,
                custom_parameters=params,
                agent_id=agent_id,
            ).to_bytes(),
            headers=self._control_headers,
        )
        await self._ctx.records.change(
            CallRecord(
                call_id=call_id,
                business_id=business_id,
                state=CallState.STREAMING,
                gateway_id=self._ctx.settings.gateway_id,
                agent_id=agent_id,
            ),
            state=CallState.STREAMING,
            gateway_id=self._ctx.settings.gateway_id,
            stream_sid=start.stream_sid,
        )
        log.info("call %s: stream %s started (agent %s)", call_id, start.stream_sid, agent_id)

    async def _bind(self) -> None:
        """Listen to the call's owner at the current epoch (and no longer to any older one):
        a lost agent's late audio and commands go to subjects nobody hears any more."""
        old, self._subs = self._subs, []
        for sub in old:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        call_id, epoch = self.call_id, self.epoch
        self._subs = [
            await self._nc.subscribe(subjects.agent_audio(call_id, epoch), cb=self._on_agent_audio),
            await self._nc.subscribe(subjects.gateway_control(call_id, epoch), cb=self._on_control),
        ]
        self._audio_subject = subjects.caller_audio(call_id, epoch)

    def _begin_trace(self, params: dict[str, str]) -> None:
        """Tag this stream's logs with the call, and continue the call's trace from the
        ``traceparent`` the voice webhook put in the TwiML (a new trace without one). The span
        is current for the rest of this websocket's task and the subscriptions made after."""
        logs.bind_call(self.call_id, self.business_id)
        self._span = tracing.tracer().start_span(
            "gateway.media_stream",
            context=tracing.extract_context(params),
            kind=SpanKind.SERVER,
            attributes={
                "call.id": self.call_id,
                "business.id": self.business_id,
                "agent.id": self.agent_id,
            },
        )
        tracing.adopt(trace.set_span_in_context(self._span))
        self._control_headers = tracing.inject_headers()

    async def _on_mark(self, message: dict[str, Any]) -> None:
        name = wire.mark_name_of(message)
        seq_text, _, epoch_text = name.partition("@")
        try:
            seq, epoch = int(seq_text), int(epoch_text or "1")
        except ValueError:
            raise wire.MediaStreamError(f"mark {name!r} is not one of ours") from None
        if epoch != self.epoch:
            return  # the lost agent's audio, returned by the clear at the move
        if self._playback.played(seq) and self.call_id:
            self._idle.set()
            await self._nc.publish(
                subjects.agent_control(self.call_id, self.epoch),
                PlaybackIdle(call_id=self.call_id, last_chunk=seq).to_bytes(),
                headers=self._control_headers,
            )

    async def _on_dtmf(self, message: dict[str, Any]) -> None:
        digit = wire.dtmf_digit_of(message)
        if self.call_id:
            await self._nc.publish(
                subjects.agent_control(self.call_id, self.epoch),
                CallerDtmf(call_id=self.call_id, digit=digit).to_bytes(),
                headers=self._control_headers,
            )

    # --- from the agent --------------------------------------------------------------------

    async def _on_agent_audio(self, msg: Msg) -> None:
        try:
            seq, ulaw = decode_agent_chunk(msg.data)
        except AudioFormatError as exc:
            metrics.MALFORMED.labels("AgentAudio").inc()
            log.warning("call %s: bad agent chunk: %s", self.call_id, exc)
            return
        if self._ended:
            metrics.FRAMES_DROPPED.labels("ended").inc()
            return
        try:
            await self._ws.send_text(wire.media_message(self._stream_sid, b64encode(ulaw).decode()))
        except Exception:  # the caller hung up under us; run() ends the call
            metrics.FRAMES_DROPPED.labels("send_failed").inc()
            return
        duration_ms = ulaw_ms(len(ulaw))
        self._playback.sent(seq, duration_ms)
        self._last_chunk_at = self._loop.time()
        metrics.FRAMES_OUT.inc()
        self._unmarked_ms += duration_ms
        if self._unmarked_ms >= self._mark_interval_ms:
            await self._mark(seq)
        elif self._tail_timer is None:
            self._tail_timer = self._loop.call_later(TAIL_MARK_S, self._mark_tail)

    async def _mark(self, seq: int) -> None:
        """A mark named after the chunk: Twilio echoes it once the caller heard that far."""
        self._unmarked_ms = 0
        self._marked = seq
        # Named after the chunk, and after the epoch once the call has moved (each agent
        # numbers its chunks from 0).
        name = str(seq) if self.epoch == 1 else f"{seq}@{self.epoch}"
        with contextlib.suppress(Exception):
            await self._ws.send_text(wire.mark_message(self._stream_sid, name))

    def _mark_tail(self) -> None:
        """Marks may cover several chunks; once the agent pauses, mark the last one so the end
        of every reply is confirmed (and :class:`PlaybackIdle` can be told)."""
        self._tail_timer = None
        last = self._playback.last_sent
        if self._ended or last == self._marked:
            return
        quiet_for = self._loop.time() - self._last_chunk_at
        if quiet_for < TAIL_MARK_S:
            self._tail_timer = self._loop.call_later(TAIL_MARK_S - quiet_for, self._mark_tail)
            return
        task = self._loop.create_task(self._mark(last))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _on_control(self, msg: Msg) -> None:
        try:
            command = gateway_control_adapter.validate_json(msg.data)
        except ValidationError as exc:
            log.warning("call %s: unreadable command: %s", self.call_id, logs.private(exc))
            return
        if isinstance(command, ClearPlayback):
            await self._clear(msg)
        elif isinstance(command, HangUp | TransferCall):
            # Not inline: ending unsubscribes this very subscription, which would cancel the
            # callback running it halfway through.
            task = self._loop.create_task(
                self._hang_up(command) if isinstance(command, HangUp) else self._transfer(command)
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _clear(self, msg: Msg) -> None:
        with tracing.tracer().start_as_current_span(
            "gateway.clear_playback", context=tracing.extract_context(msg), kind=SpanKind.SERVER
        ):
            await self._clear_and_answer(msg)

    async def _clear_and_answer(self, msg: Msg) -> None:
        chunks_sent = self._playback.chunks_sent
        last, ms_into_next = self._playback.cleared()
        metrics.BARGE_INS.inc()
        if not self._ended:
            try:
                await self._ws.send_text(wire.clear_message(self._stream_sid))
            except Exception as exc:
                log.info("call %s: clear not sent: %s", self.call_id, exc)
        if msg.reply:
            position = PlaybackPosition(
                call_id=self.call_id,
                last_chunk=last,
                ms_since_mark=ms_into_next,
                chunks_sent=chunks_sent,
            )
            await msg.respond(position.to_bytes())

    async def _hang_up(self, command: HangUp) -> None:
        """End the stream for the agent; with ``after_playback``, once the caller heard it all.
        Twilio then asks our <Connect> action URL, which hangs up, after the apology when the
        agent could not go on (recorded as the agent lost: the caller is owed the same words)."""
        log.info("call %s: agent hangs up (%s)", self.call_id, command.reason)
        if command.after_playback:
            await self._until_played()
        await self.end(EndReason.AGENT_LOST if command.apology else EndReason.AGENT_HUNG_UP)

    async def _transfer(self, command: TransferCall) -> None:
        """Once the caller heard the agent's last words: update the live call through Twilio's
        REST API to ``<Dial>`` the number (Twilio then ends this stream itself, and reports
        the dial's outcome to :mod:`.routes.transfer`). Without REST
        credentials, or when the update fails, end the stream with the number in the call's
        record, and the ``<Connect action>`` URL dials it: the caller is transferred either
        way."""
        log.info("call %s: transfer to %s (%s)", self.call_id, command.to_number, command.reason)
        if command.after_playback:
            await self._until_played()
        self._transfer_asked = command
        control = self._ctx.call_control
        if control is not None and not self._ended:
            self._transfer_pending = True
            settings = self._ctx.settings
            dial = twiml.dial(
                command.to_number,
                timeout_s=command.timeout_s,
                action_url=settings.transfer_ended_url,
                answered_url=settings.transfer_answered_url,
                caller_id=command.caller_id,
                say=twiml.MODEL_LOST_TRANSFER_SAY if command.apology else None,
            )
            try:
                await control.redirect(self.call_id, dial)
            except CallControlError as exc:
                log.warning("call %s: %s; transferring through the action URL", self.call_id, exc)
            else:
                metrics.TRANSFERS.labels("rest").inc()
                with contextlib.suppress(TimeoutError):  # Twilio's stop, normally at once
                    async with asyncio.timeout(REST_STOP_WAIT_S):
                        await self._ended_event.wait()
                await self.end(EndReason.TRANSFERRED)
                return
        metrics.TRANSFERS.labels("action_url").inc()
        await self.end(EndReason.TRANSFERRED)

    async def _until_played(self) -> None:
        if not self._playback.idle:
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HANGUP_PLAYBACK_WAIT_S):
                    await self._idle.wait()

    # --- a new agent ------------------------------------------------------------------------

    async def rebind(self, agent_id: str, epoch: int) -> None:
        """The call moved to ``agent_id`` at ``epoch`` (its agent was lost): drop what the lost
        agent had queued at Twilio (the new one answers again from what the caller heard),
        start playback tracking afresh for the new agent's numbering, and tell it the stream
        is open."""
        if self._ended:
            return
        self.agent_id, self.epoch = agent_id, epoch
        await self._bind()
        if self._tail_timer is not None:
            self._tail_timer.cancel()
            self._tail_timer = None
        self._playback = PlaybackTracker()
        self._unmarked_ms, self._marked = 0, -1
        with contextlib.suppress(Exception):
            await self._ws.send_text(wire.clear_message(self._stream_sid))
        await self._nc.publish(
            subjects.agent_control(self.call_id, self.epoch),
            CallStarted(
                call_id=self.call_id,
                stream_sid=self._stream_sid,
                gateway_id=self._ctx.settings.gateway_id,
                agent_id=agent_id,
            ).to_bytes(),
            headers=self._control_headers,
        )

    # --- the end ---------------------------------------------------------------------------

    async def end(self, reason: EndReason) -> None:
        """End once, whoever asks first: tell the agent, free the subjects, close the socket."""
        async with self._end_lock:
            if self._ended:
                return
            self._ended = True
            self._ended_event.set()
        if reason == EndReason.CALLER_HUNG_UP and self._transfer_pending:
            reason = EndReason.TRANSFERRED  # Twilio's stop after our REST update, not a hang-up
        if self._tail_timer is not None:
            self._tail_timer.cancel()
        metrics.CALLS_ENDED.labels(reason.value).inc()
        if self.call_id:
            self._ctx.sessions.pop(self.call_id, None)
            metrics.ACTIVE_CALLS.dec()
            for sub in self._subs:
                try:
                    await sub.unsubscribe()
                except Exception as exc:
                    log.debug("unsubscribe failed: %s", exc)
            try:
                await self._nc.publish(
                    subjects.agent_control(self.call_id, self.epoch),
                    CallEnded(call_id=self.call_id, reason=reason).to_bytes(),
                    headers=self._control_headers,
                )
            except Exception as exc:
                log.warning("call %s: could not tell the agent it ended: %s", self.call_id, exc)
            await self._ctx.records.change(
                CallRecord(
                    call_id=self.call_id,
                    business_id=self.business_id,
                    state=CallState.ENDED,
                    gateway_id=self._ctx.settings.gateway_id,
                    agent_id=self.agent_id or None,
                    epoch=self.epoch,
                    stream_sid=self._stream_sid,
                ),
                state=CallState.ENDED,
                gateway_id=self._ctx.settings.gateway_id,
                ended_reason=reason,
                transfer_to=self._transfer_asked.to_number if self._transfer_asked else None,
                transfer_caller_id=self._transfer_asked.caller_id if self._transfer_asked else None,
                transfer_timeout_s=self._transfer_asked.timeout_s if self._transfer_asked else None,
                transfer_apology=self._transfer_asked.apology if self._transfer_asked else False,
            )
            log.info("call %s: ended (%s)", self.call_id, reason.value)
        if self._span is not None:
            self._span.set_attribute("call.end_reason", reason.value)
            self._span.end()
        if self._ws.application_state == WebSocketState.CONNECTED:
            code = CLOSE_CODES.get(reason, CLOSE_FAILED)
            try:
                await self._ws.close(code=code, reason=reason.value)
            except Exception as exc:
                log.debug("close failed: %s", exc)
