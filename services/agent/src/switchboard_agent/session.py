"""One call's runtime: the caller's audio in, the model's audio out, tools, barge-in, transcripts.

The session owns the call from the offer on. It opens the Realtime connection straight away
(while Twilio is still setting up the media stream) so the greeting starts without waiting for
a connection handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from openai import AsyncOpenAI
from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionCompletedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCall,
    RealtimeErrorEvent,
    RealtimeResponseUsage,
    RealtimeServerEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseOutputItemDoneEvent,
)
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from pydantic import ValidationError

from switchboard_common import logs, subjects, tracing
from switchboard_common.audio import BYTES_PER_MS, encode_agent_chunk
from switchboard_common.business import BusinessProfile
from switchboard_common.event_stream import CallEventPublisher
from switchboard_common.events import TokenUsage
from switchboard_common.messages import (
    CallEnded,
    CallerDtmf,
    CallOffer,
    CallStarted,
    ClearPlayback,
    HangUp,
    PlaybackIdle,
    PlaybackPosition,
    Speaker,
    ToolCallEvent,
    TranscriptEvent,
    TransferCall,
    agent_control_adapter,
)

from . import metrics
from .playback import AudioLedger, truncation_for
from .realtime.link import AudioDelta, RealtimeLink
from .realtime.session_config import greeting_instructions, session_config
from .resume import InFlightText, keypress_text, rebuild, replay, with_unconfirmed
from .settings import AgentSettings
from .tools import ToolContext, ToolRegistry, ToolResult
from .tools.holding import HoldingLine
from .tools.telephony import ExitKind
from .turns import AgentTurns

#: Caller audio kept from before speech starts (covers the VAD's prefix padding), in frames.
PREFIX_FRAMES = 25
#: Longest utterance kept for a replay after a reconnect (30 s of 20 ms frames).
MAX_SPEECH_FRAMES = 1500

MAX_LENGTH_GOODBYE = "We've reached the time limit for this call. Thank you for calling, goodbye!"
SILENCE_GOODBYE = "I haven't heard anything for a while, so I'll end the call now. Goodbye!"

log = logging.getLogger(__name__)


class CallSession:
    def __init__(
        self,
        offer: CallOffer,
        business: BusinessProfile,
        settings: AgentSettings,
        nc: Client,
        openai: AsyncOpenAI,
        tools: ToolRegistry,
    ) -> None:
        self.call_id = offer.call_id
        self.business = business
        self._settings = settings
        self._nc = nc
        self._openai = openai
        self._tools = tools
        self._tool_ctx = ToolContext(call_id=offer.call_id, business=business, nc=nc, control=self)
        self._audio_subject = subjects.agent_audio(offer.call_id)
        self._gateway_subject = subjects.gateway_control(offer.call_id)
        self._transcript_subject = subjects.transcript(business.business_id, offer.call_id)
        self._ledger = AudioLedger()
        self._offer = offer
        self._events = CallEventPublisher(nc.jetstream(), business.business_id, offer.call_id)
        self._turns = AgentTurns(self._ledger, self._agent_turn_final)
        self._caller_turns = 0
        self._usage = TokenUsage()
        self._started_at: float | None = None
        self._exit: tuple[ExitKind, str, str | None] | None = None
        self._exit_sent = False
        self._in_flight = InFlightText()
        self._successor: RealtimeLink | None = None
        #: The caller's last moments of audio, and the utterance in progress, so a reconnect
        #: mid-sentence can give the new session the whole sentence.
        self._recent_audio: deque[bytes] = deque(maxlen=PREFIX_FRAMES)
        self._speech_audio: list[bytes] = []
        self._caller_speaking = False
        self._link_opened_at = time.monotonic()
        self._last_activity = time.monotonic()
        self._link: RealtimeLink | None = None
        self._subs: list[Subscription] = []
        self._started = asyncio.Event()
        self._ended = asyncio.Event()
        self._settled = asyncio.Event()  # the stream started or the call ended
        self._early_audio: deque[bytes] = deque(maxlen=max(1, settings.early_audio_buffer_ms // 20))
        self._active_response: str | None = None
        self._interrupted: set[str] = set()
        self._tool_runs: dict[str, list[asyncio.Task[tuple[str, str, str, ToolResult]]]] = {}
        self._holding = HoldingLine(
            settings.tool_holding_delay_s,
            settings.tool_holding_phrase,
            settings.vad_silence_duration_ms / 1000.0,
        )
        self._background: set[asyncio.Task[None]] = set()
        self._idle_through = -1
        self._speech_stopped_at: float | None = None
        self._speech_started_at: float | None = None
        #: The call's span, and the open turn's (end of caller speech to first agent audio).
        self._span: Span = trace.INVALID_SPAN
        self._turn_span: Span | None = None
        self._last_audio_at = time.monotonic()
        self.end_reason = ""

    # --- lifecycle ---------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Subscribe before the offer is accepted, so nothing the gateway sends is missed.
        The subscriptions' tasks are made inside the call's log scope, so they carry its ids."""
        with logs.call_scope(self.call_id, self.business.business_id):
            await self._subscribe()

    async def _subscribe(self) -> None:
        self._subs = [
            await self._nc.subscribe(subjects.agent_control(self.call_id), cb=self._on_control),
            await self._nc.subscribe(
                subjects.caller_audio(self.call_id),
                cb=self._on_caller_audio,
                pending_bytes_limit=self._settings.early_audio_buffer_ms * BYTES_PER_MS * 8,
            ),
        ]

    async def run(self) -> None:
        """The call's task: its logs are tagged with the call, and its span (a child of the
        gateway's offer, whose context was current when the task was made) is the parent of
        every turn, tool call and barge-in, and of the knowledge service's work."""
        logs.bind_call(self.call_id, self.business.business_id)
        with tracing.tracer().start_as_current_span(
            "agent.call",
            attributes={
                "call.id": self.call_id,
                "business.id": self.business.business_id,
                "agent.id": self._settings.agent_id,
            },
        ) as span:
            self._span = span
            try:
                await self._converse()
            except Exception as exc:
                log.exception("call %s: session failed", self.call_id)
                self.end_reason = self.end_reason or "session_error"
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                await self._give_up(f"{type(exc).__name__}: {exc}")
            finally:
                await self._release()
                span.set_attribute("call.end_reason", self.end_reason or "ended")

    async def _give_up(self, why: str) -> None:
        """The call cannot be served (e.g. the model is unreachable): have the gateway end it,
        so the caller hears the apology rather than silence. The stream may not have started
        yet, so wait for it (bounded) before asking."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settings.start_timeout_s):
                await self._settled.wait()
        if self._started.is_set() and not self._ended.is_set():
            hang_up = HangUp(call_id=self.call_id, reason=why[:200], after_playback=False)
            with contextlib.suppress(Exception):
                await self._nc.publish(
                    self._gateway_subject, hang_up.to_bytes(), headers=tracing.inject_headers()
                )

    async def hang_up_now(self, reason: str) -> None:
        """Have the gateway end the call at once (the agent is going away: drain deadline)."""
        self.end_reason = self.end_reason or reason
        if self._started.is_set() and not self._ended.is_set():
            hang_up = HangUp(call_id=self.call_id, reason=reason, after_playback=False)
            with contextlib.suppress(Exception):
                await self._nc.publish(self._gateway_subject, hang_up.to_bytes())

    async def _open_link(self) -> RealtimeLink:
        """Open the Realtime connection, retrying briefly: a blip must not cost the call."""
        delays = self._settings.realtime_open_retry_delays_s
        for attempt, delay in enumerate([*delays, None], start=1):
            try:
                return await RealtimeLink.open(self._openai, self._settings.model)
            except Exception as exc:
                if delay is None:
                    raise
                log.warning(
                    "call %s: Realtime open failed (try %d): %s", self.call_id, attempt, exc
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _converse(self) -> None:
        link = await self._open_link()
        self._link = link
        self._link_opened_at = time.monotonic()
        enabled = self._tools.definitions(self.business.enabled_tools)
        await link.configure(session_config(self.business, self._settings, enabled))
        try:
            async with asyncio.timeout(self._settings.start_timeout_s):
                await self._settled.wait()
        except TimeoutError:
            self.end_reason = "stream_never_started"
            log.warning("call %s: media stream never started", self.call_id)
            return
        if self._ended.is_set():
            return
        while self._early_audio:
            await link.append_audio(self._early_audio.popleft())
        await link.respond(greeting_instructions(self.business.greeting))
        self._last_audio_at = time.monotonic()
        pump = asyncio.create_task(self._pump(link), name=f"pump-{self.call_id}")
        ended = asyncio.create_task(self._ended.wait())
        watchdog = asyncio.create_task(self._watch_media())
        limits = asyncio.create_task(self._watch_limits())
        await asyncio.wait({pump, ended, watchdog}, return_when=asyncio.FIRST_COMPLETED)
        for task in (pump, ended, watchdog, limits):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _watch_media(self) -> None:
        """Twilio streams audio all the time, silence included: a call whose audio stops for
        long has lost its gateway, and must not hold this agent's capacity forever."""
        timeout = self._settings.media_timeout_s
        while True:
            quiet = time.monotonic() - self._last_audio_at
            if quiet > timeout:
                self.end_reason = "media_timeout"
                log.warning("call %s: no caller audio for %.0f s, ending", self.call_id, quiet)
                return
            await asyncio.sleep(min(1.0, timeout - quiet + 0.01))

    async def _watch_limits(self) -> None:
        """The business's limits end a call politely: the agent says goodbye, then hangs up.
        Caller silence counts only while the agent is quiet too (nothing playing or coming)."""
        started = time.monotonic()
        while self._exit is None:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            agent_quiet = (
                self._active_response is None and self._ledger.last_seq <= self._idle_through
            )
            rollover_due = now - self._link_opened_at >= self._settings.realtime_session_rollover_s
            if agent_quiet and rollover_due:
                await self._roll_over()
            if now - started >= self.business.max_call_length_s:
                await self._goodbye(MAX_LENGTH_GOODBYE, "max_call_length")
            elif (
                agent_quiet and now - self._last_activity >= self.business.caller_silence_timeout_s
            ):
                await self._goodbye(SILENCE_GOODBYE, "caller_silence")

    async def _goodbye(self, words: str, reason: str) -> None:
        link = self._link
        if link is None or self._active_response is not None:
            return  # try again on the next tick
        log.info("call %s: ending (%s)", self.call_id, reason)
        self.request_exit("hang_up", reason)
        await link.respond(f'Say exactly: "{words}"')

    def request_exit(self, kind: ExitKind, reason: str, to_number: str | None = None) -> None:
        """Called by the end_call/transfer_call tools and the limits: leave after the next
        reply has been spoken (see :meth:`_leave`)."""
        if self._exit is None:
            self._exit = (kind, reason, to_number)

    async def _leave(self) -> None:
        """Ask the gateway to end (or transfer) the call once the last words have played."""
        if self._exit is None or self._exit_sent:
            return
        self._exit_sent = True
        kind, reason, to_number = self._exit
        self.end_reason = "transferred" if kind == "transfer" else f"agent_hung_up:{reason}"
        command: HangUp | TransferCall
        if kind == "transfer" and to_number:
            command = TransferCall(call_id=self.call_id, to_number=to_number, reason=reason)
            self._events.transfer(to_number, ok=True, reason=reason)
        else:
            command = HangUp(call_id=self.call_id, reason=reason, after_playback=True)
        try:
            await self._nc.publish(
                self._gateway_subject, command.to_bytes(), headers=tracing.inject_headers()
            )
        except Exception as exc:
            log.warning("call %s: could not ask the gateway to end the call: %s", self.call_id, exc)

    async def _pump(self, link: RealtimeLink) -> None:
        """Read the model's events; when the connection drops, reconnect and carry on. A
        rollover (see :meth:`_roll_over`) closes the old link on purpose, with its
        successor ready."""
        from websockets.exceptions import ConnectionClosed

        reconnects = 0
        while True:
            try:
                while True:
                    await self._handle(await link.next_event())
            except ConnectionClosed as exc:
                if self._successor is not None:
                    link, self._successor = self._successor, None
                    self._link = link
                    self._link_opened_at = time.monotonic()
                    continue
                if reconnects >= self._settings.realtime_max_reconnects:
                    self.end_reason = self.end_reason or "realtime_closed"
                    log.warning("call %s: Realtime connection lost: %s", self.call_id, exc)
                    return
                reconnects += 1
                metrics.REALTIME_RECONNECTS.inc()
                log.warning(
                    "call %s: Realtime connection dropped (%s), reconnecting", self.call_id, exc
                )
                self._link = None
                await self._cut_at_drop()
                link = await self._fresh_link(replay_speech=True)
                self._link = link
                self._link_opened_at = time.monotonic()

    async def _roll_over(self) -> None:
        """Before the provider's session cap, at a quiet moment, move the call to a new
        session: it is opened and given the conversation while the old one still serves, then
        the old one is closed and the pump carries on with the new one."""
        old = self._link
        if old is None or self._successor is not None:
            return
        log.info("call %s: rolling the Realtime session over", self.call_id)
        self._successor = await self._fresh_link()
        metrics.REALTIME_ROLLOVERS.inc()
        await old.close()

    async def _cut_at_drop(self) -> None:
        """The link died while the model was still answering: the rest of that answer will
        never come, so stop what Twilio still holds of it and record the reply as far as the
        caller heard it (the new session then answers again from there)."""
        response_id, self._active_response = self._active_response, None
        item_id = self._ledger.current_item
        if response_id is None or item_id is None:
            return
        self._interrupted.add(response_id)
        position = await self._clear_playback()
        played: int | None = None
        if position is not None:
            decision = truncation_for(
                self._ledger, item_id, position.last_chunk, position.ms_since_mark
            )
            played = decision.audio_end_ms
        self._turns.cut(item_id, played)
        self._turns.spoken(item_id, self._in_flight.pop(item_id))

    async def _fresh_link(self, replay_speech: bool = False) -> RealtimeLink:
        """A new session with the same configuration and the conversation so far, rebuilt
        from the call's events as the caller heard it, so the caller notices at most a short
        pause. After a drop (``replay_speech``) it answers at once when the caller is owed an
        answer. Caller audio is buffered while ``_link`` is None and flushed here."""
        self._active_response = None
        link = await self._open_link()
        enabled = self._tools.definitions(self.business.enabled_tools)
        await link.configure(session_config(self.business, self._settings, enabled))
        resumed = with_unconfirmed(rebuild(self._events.history), self._turns.unconfirmed())
        await replay(link, resumed.items)
        owed = replay_speech and resumed.answer_due and not self._caller_speaking
        if replay_speech and self._caller_speaking:
            # The caller was mid-sentence when the old session died: send it all again
            # (the early buffer then only holds what came after).
            for frame in self._speech_audio:
                await link.append_audio(frame)
            self._caller_speaking = False
            self._speech_audio = []
        while self._early_audio:
            await link.append_audio(self._early_audio.popleft())
        if owed:
            await link.respond()
        return link

    async def _release(self) -> None:
        self._end_turn_span("call ended")
        self._turns.flush()
        if self._started_at is not None:
            self._events.call_ended(
                duration_s=time.monotonic() - self._started_at,
                caller_turns=self._caller_turns,
                agent_turns=self._turns.count,
                reason=self.end_reason or "ended",
                usage=self._usage,
                detail=self._exit[1] if self._exit is not None and self._exit_sent else "",
            )
        await self._events.aclose()
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        for task in list(self._background):
            task.cancel()
        if self._link is not None:
            with contextlib.suppress(Exception):
                await self._link.close()
        log.info("call %s: session closed (%s)", self.call_id, self.end_reason or "ended")

    # --- from the gateway --------------------------------------------------------------------

    async def _on_caller_audio(self, msg: Msg) -> None:
        link = self._link
        if link is None or not self._started.is_set():
            if len(self._early_audio) == self._early_audio.maxlen:
                metrics.FRAMES_DROPPED.labels("early_overflow").inc()
            self._early_audio.append(msg.data)
            return
        self._last_audio_at = time.monotonic()
        self._recent_audio.append(msg.data)
        if self._caller_speaking and len(self._speech_audio) < MAX_SPEECH_FRAMES:
            self._speech_audio.append(msg.data)
        try:
            await link.append_audio(msg.data)
        except Exception as exc:  # the pump sees the closed connection and ends the call
            log.debug("call %s: append failed: %s", self.call_id, exc)
            return
        metrics.FRAMES_IN.inc()

    async def _on_control(self, msg: Msg) -> None:
        try:
            event = agent_control_adapter.validate_json(msg.data)
        except ValidationError as exc:
            log.warning("call %s: unreadable control message: %s", self.call_id, logs.private(exc))
            return
        if isinstance(event, CallStarted):
            self._started_at = time.monotonic()
            self._events.call_started(
                agent_id=self._settings.agent_id,
                gateway_id=event.gateway_id,
                from_number=self._offer.from_number,
                to_number=self._offer.to_number,
            )
            self._started.set()
            self._settled.set()
        elif isinstance(event, PlaybackIdle):
            self._idle_through = max(self._idle_through, event.last_chunk)
            self._turns.played_through(event.last_chunk)
        elif isinstance(event, CallerDtmf):
            self._last_activity = time.monotonic()
            self._events.dtmf(event.digit)
            self._spawn(self._tell_keypress(event.digit))
        elif isinstance(event, CallEnded):
            self.end_reason = event.reason.value
            self._ended.set()
            self._settled.set()

    async def _tell_keypress(self, digit: str) -> None:
        """Key presses reach the model as a user message; it answers unless already talking."""
        link = self._link
        if link is None or not self._started.is_set():
            return
        await link.add_user_text(keypress_text(digit))
        if self._active_response is None:
            await link.respond()

    # --- from the model ----------------------------------------------------------------------

    async def _handle(self, event: AudioDelta | RealtimeServerEvent) -> None:
        if isinstance(event, AudioDelta):
            await self._on_audio(event)
        elif isinstance(event, InputAudioBufferSpeechStartedEvent):
            self._last_activity = time.monotonic()
            self._caller_speaking = True
            self._speech_audio = list(self._recent_audio)
            self._speech_started_at = time.perf_counter()
            await self._barge_in()
        elif isinstance(event, InputAudioBufferSpeechStoppedEvent):
            self._last_activity = time.monotonic()
            self._caller_speaking = False
            self._speech_audio = []
            self._speech_stopped_at = time.perf_counter()
            self._begin_turn_span()
        elif isinstance(event, ResponseAudioTranscriptDeltaEvent):
            self._in_flight.add(event.item_id, event.delta)
        elif isinstance(event, ResponseCreatedEvent):
            self._active_response = event.response.id
        elif isinstance(event, ResponseOutputItemDoneEvent):
            self._maybe_run_tool(event)
        elif isinstance(event, ResponseDoneEvent):
            await self._on_response_done(event)
        elif isinstance(event, ConversationItemInputAudioTranscriptionCompletedEvent):
            self._caller_turns += 1
            log.info("call %s: caller said %s", self.call_id, logs.private(event.transcript))
            self._events.caller_turn(event.transcript, event.item_id)
            await self._publish_transcript(Speaker.CALLER, event.transcript, event.item_id)
        elif isinstance(event, RealtimeErrorEvent):
            code = event.error.code or event.error.type
            metrics.REALTIME_ERRORS.labels(code).inc()
            self._holding.error(event.error.event_id)
            log.warning(  # the provider's message may quote what the caller said
                "call %s: Realtime error %s: %s",
                self.call_id,
                code,
                logs.private(event.error.message),
            )

    async def _on_audio(self, delta: AudioDelta) -> None:
        if delta.response_id in self._interrupted:
            metrics.FRAMES_DROPPED.labels("interrupted").inc()
            return
        if self._speech_stopped_at is not None:
            metrics.TURN_LATENCY.observe(time.perf_counter() - self._speech_stopped_at)
            self._speech_stopped_at = None
            self._end_turn_span()
        self._last_activity = time.monotonic()
        seq = self._ledger.record(delta.item_id, len(delta.audio))
        await self._nc.publish(self._audio_subject, encode_agent_chunk(seq, delta.audio))
        metrics.FRAMES_OUT.inc()

    async def _barge_in(self) -> None:
        """The caller talks over the agent: stop the audio where the caller stopped hearing it.

        1. Clear Twilio's buffer (the gateway answers with the playback position).
        2. Cancel the response if the server is not doing so itself.
        3. Truncate the assistant item at what was played, clamped to what was produced,
           and not at all when it had finished playing (truncating then would be an error).
        """
        response_id = self._active_response
        if response_id is not None:
            self._interrupted.add(response_id)
        item_id = self._ledger.current_item
        playing = self._ledger.last_seq > self._idle_through
        if item_id is None or (not playing and response_id is None):
            return
        metrics.BARGE_INS.inc()
        with tracing.tracer().start_as_current_span("agent.barge_in") as span:
            position = await self._clear_playback()
            span.set_attribute("barge_in.confirmed", position is not None)
        if position is not None and self._speech_started_at is not None:
            metrics.BARGE_IN_LATENCY.observe(time.perf_counter() - self._speech_started_at)
        link = self._link
        if link is None:
            return
        if response_id is not None and not self._settings.interrupt_response:
            await link.cancel_response()
        if position is None:
            return
        decision = truncation_for(
            self._ledger, item_id, position.last_chunk, position.ms_since_mark
        )
        self._turns.cut(item_id, decision.audio_end_ms)
        if decision.audio_end_ms is not None:
            await link.truncate(item_id, decision.audio_end_ms)
            log.info(
                "call %s: barge-in, %s truncated at %d of %.0f ms",
                self.call_id,
                item_id,
                decision.audio_end_ms,
                decision.produced_ms,
            )

    async def _clear_playback(self) -> PlaybackPosition | None:
        try:
            reply = await self._nc.request(
                self._gateway_subject,
                ClearPlayback(call_id=self.call_id).to_bytes(),
                timeout=self._settings.clear_timeout_s,
                headers=tracing.inject_headers(),
            )
            return PlaybackPosition.model_validate_json(reply.data)
        except Exception as exc:
            log.warning("call %s: gateway did not confirm the clear: %s", self.call_id, exc)
            return None

    # --- tools and responses -----------------------------------------------------------------

    def _maybe_run_tool(self, event: ResponseOutputItemDoneEvent) -> None:
        item = event.item
        if not isinstance(item, RealtimeConversationItemFunctionCall) or not item.call_id:
            return
        task = asyncio.create_task(self._run_tool(item.call_id, item.name, item.arguments))
        self._tool_runs.setdefault(event.response_id, []).append(task)

    async def _run_tool(
        self, call_id: str, name: str, arguments: str
    ) -> tuple[str, str, str, ToolResult]:
        """A child span per tool call; a knowledge query made inside it carries it on."""
        with tracing.tracer().start_as_current_span(
            f"agent.tool {name}", attributes={"tool.name": name}
        ) as span:
            result = await self._tools.run(name, arguments, self._tool_ctx)
            span.set_attribute("tool.ok", result.ok)
            if result.failure is not None:
                span.set_attribute("tool.failure", result.failure.value)
                span.set_status(Status(StatusCode.ERROR))
        return call_id, name, arguments, result

    async def _on_response_done(self, event: ResponseDoneEvent) -> None:
        response = event.response
        if response.id == self._active_response:
            self._active_response = None
        self._holding.response_done(response.metadata)
        interrupted = response.status == "cancelled" or response.id in self._interrupted
        self._count_usage(response.usage)
        self._in_flight.forget(item.id or "" for item in response.output or [])
        for item in response.output or []:
            if isinstance(item, RealtimeConversationItemAssistantMessage):
                text = " ".join(c.transcript or c.text or "" for c in item.content).strip()
                if text:
                    self._turns.spoken(item.id or "", text)
                    await self._publish_transcript(Speaker.AGENT, text, item.id or "", interrupted)
        runs = self._tool_runs.pop(response.id or "", [])
        if runs:
            self._spawn(self._answer_tools(runs, respond=response.status == "completed"))
        elif self._exit is not None:
            await self._leave()  # the last words are out: end the call once they have played

    async def _answer_tools(
        self, runs: list[asyncio.Task[tuple[str, str, str, ToolResult]]], respond: bool
    ) -> None:
        link = self._link
        if link is None:
            return
        results = await self._holding.results(  # a holding phrase if the tools are slow
            asyncio.gather(*runs),
            speech_stopped_at=self._speech_stopped_at if respond else None,
            may_speak=lambda: self._active_response is None and not self._caller_speaking,
            speaker=link,
        )
        for call_id, name, arguments, result in results:
            metrics.TOOL_CALLS.labels(name, str(result.ok).lower()).inc()
            metrics.TOOL_LATENCY.labels(name).observe(result.latency_ms / 1000.0)
            await link.tool_output(call_id, result.output)
            self._events.tool_called(
                name, arguments, ok=result.ok, output=result.output, latency_ms=result.latency_ms
            )
            await self._publish(
                ToolCallEvent(
                    call_id=self.call_id,
                    business_id=self.business.business_id,
                    name=name,
                    arguments=arguments,
                    ok=result.ok,
                    output=result.output,
                    latency_ms=result.latency_ms,
                )
            )
        if respond:
            await self._holding.ready_to_answer()
            await link.respond()
        elif self._exit is not None:
            await self._leave()

    def _agent_turn_final(
        self, text: str, item_id: str, interrupted: bool, played_ms: int | None, produced_ms: int
    ) -> None:
        self._events.agent_turn(
            text,
            item_id,
            interrupted=interrupted,
            played_ms=played_ms,
            produced_ms=produced_ms,
        )

    def _count_usage(self, usage: RealtimeResponseUsage | None) -> None:
        if usage is None:
            return
        self._usage = TokenUsage(
            input_tokens=self._usage.input_tokens + (usage.input_tokens or 0),
            output_tokens=self._usage.output_tokens + (usage.output_tokens or 0),
            total_tokens=self._usage.total_tokens + (usage.total_tokens or 0),
        )

    # --- helpers -----------------------------------------------------------------------------

    def _begin_turn_span(self) -> None:
        """A turn runs from the end of the caller's speech to the agent's first audio."""
        self._end_turn_span("caller spoke again")
        self._turn_span = tracing.tracer().start_span(
            "agent.turn",
            context=trace.set_span_in_context(self._span),
            attributes={"turn.caller_index": self._caller_turns + 1},
        )

    def _end_turn_span(self, unanswered: str | None = None) -> None:
        span, self._turn_span = self._turn_span, None
        if span is None:
            return
        if unanswered is not None:
            span.set_attribute("turn.unanswered", unanswered)
        span.end()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish_transcript(
        self, speaker: Speaker, text: str, item_id: str, interrupted: bool = False
    ) -> None:
        await self._publish(
            TranscriptEvent(
                call_id=self.call_id,
                business_id=self.business.business_id,
                speaker=speaker,
                text=text,
                item_id=item_id,
                interrupted=interrupted,
            )
        )

    async def _publish(self, event: TranscriptEvent | ToolCallEvent) -> None:
        try:
            await self._nc.publish(self._transcript_subject, event.to_bytes())
        except Exception as exc:
            log.warning("call %s: event not published: %s", self.call_id, exc)
