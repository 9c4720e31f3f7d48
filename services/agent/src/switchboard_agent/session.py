"""One call's runtime: the caller's audio in, the model's audio out, and the call's events.

The session owns the call from the offer on. It opens the Realtime connection straight away
(while Twilio is still setting up the media stream) so the greeting starts without waiting for
a connection handshake. The hot audio path (caller audio to the model, the model's audio to
the gateway) stays here; the rest is delegated to collaborators the session owns: keeping the
Realtime link (:mod:`.realtime.keeper`), what the gateway reports of the phone line
(:mod:`.gateway_controls`), cutting replies short (:mod:`.interruptions`), tools
(:mod:`.tool_runs`), the call's limits (:mod:`.limits`) and its exit (:mod:`.call_exit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

from nats.aio.client import Client
from nats.aio.subscription import Subscription
from openai import AsyncOpenAI
from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionCompletedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
    RealtimeConversationItemAssistantMessage,
    RealtimeErrorEvent,
    RealtimeServerEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseOutputItemDoneEvent,
)
from opentelemetry.trace import Status, StatusCode

from switchboard_common import logs, subjects, tracing
from switchboard_common.audio import encode_agent_chunk
from switchboard_common.business import BusinessProfile
from switchboard_common.call_lease import Lease
from switchboard_common.event_stream import CallEventPublisher
from switchboard_common.messages import CallOffer, Speaker

from . import holding, metrics
from .call_exit import CallExit
from .call_phase import CallPhase
from .caller_audio import CallerAudio
from .gateway_controls import GatewayControls
from .interruptions import PlaybackCutter
from .limits import CallLimits
from .live_feed import LiveFeed
from .live_settings import LiveSettings, Lookup
from .ownership import CallStory, still_owner
from .playback import AudioLedger
from .realtime.keeper import LinkKeeper
from .realtime.link import AudioDelta, RealtimeLink
from .realtime.session_config import greeting_instructions
from .reply import ReplyState
from .resume import Resumption, rebuild, with_unconfirmed
from .settings import AgentSettings
from .stream_return import ask_for_new_stream
from .stream_start import StreamWait, wait_for_stream
from .takeover import Takeover, carry_on
from .tool_runs import Run, ToolRuns
from .tools import ToolContext, ToolRegistry
from .tools.holding import HoldingLine
from .transfers import Transfers
from .turn_trace import TurnTrace
from .turns import AgentTurns

log = logging.getLogger(__name__)

#: How long after the caller stops speaking their answer counts as on its way (a model that
#: answered with no audio, or not at all, does not hold a rollover back for longer).
ANSWER_EXPECTED_S = 5.0


class CallSession:
    def __init__(
        self,
        offer: CallOffer,
        business: BusinessProfile,
        settings: AgentSettings,
        nc: Client,
        openai: AsyncOpenAI,
        tools: ToolRegistry,
        takeover: Takeover | None = None,
        lookup: Lookup | None = None,
    ) -> None:
        self.call_id = offer.call_id
        self.business = business
        self._settings = settings
        self._nc = nc
        #: The ownership epoch this session runs the call at (2 and up after a takeover): the
        #: call's live subjects are named after it.
        self.epoch = takeover.lease.epoch if takeover is not None else 1
        self.lease = (
            takeover.lease
            if takeover is not None
            else Lease(offer.call_id, settings.agent_id, self.epoch)
        )
        self._audio_subject = subjects.agent_audio(offer.call_id, self.epoch)
        self._gateway_subject = subjects.gateway_control(offer.call_id, self.epoch)
        self._feed = LiveFeed(nc, business.business_id, offer.call_id)
        self._offer = offer
        self._events = CallEventPublisher(nc.jetstream(), business.business_id, offer.call_id)
        #: Set when this session carries on a call whose agent was lost.
        self._takeover = takeover
        #: The reply in progress, shared with the collaborators; the ledger and the set of
        #: interrupted responses are also held here directly for the per-frame audio path.
        self._ledger = AudioLedger()
        self._reply = ReplyState(self._ledger, AgentTurns(self._ledger, self._agent_turn_final))
        self._turns = self._reply.turns
        self._story = CallStory(nc, self.lease, self._events, self._turns)
        self._interrupted = self._reply.interrupted
        self._caller_turns = 0
        self._trace = TurnTrace()
        #: When either side last spoke or the caller pressed a key (monotonic).
        self.last_activity = time.monotonic()
        self._link: RealtimeLink | None = None
        #: Set while the call has a link (cleared while a dropped one is replaced).
        self._linked = asyncio.Event()
        self._subs: list[Subscription] = []
        self._phase = CallPhase()
        self._caller_audio = CallerAudio(
            offer.call_id, self._phase.started, settings.early_audio_buffer_ms // 20
        )
        self._holding = HoldingLine(
            settings.tool_holding_delay_s,
            settings.tool_holding_phrase,
            settings.vad_silence_duration_ms / 1000.0,
        )
        self._background: set[asyncio.Task[None]] = set()
        self._speech_stopped_at: float | None = None
        #: Turn latency (ms) of each reply that answered the caller's speech, by item id,
        #: until its agent_turn event carries it.
        self._turn_latency_ms: dict[str, float] = {}
        self._speech_started_at: float | None = None
        self.end_reason = ""
        self._transfers = Transfers(offer.call_id, self._events)
        self._exit = CallExit(offer, nc, self._gateway_subject, self, self._phase, self._transfers)
        self._keeper = LinkKeeper(offer.call_id, self, openai, settings, business, tools)
        self._cutter = PlaybackCutter(
            offer.call_id, nc, self._gateway_subject, settings, self._reply, self._current_link
        )
        tool_ctx = ToolContext(call_id=offer.call_id, business=business, nc=nc, control=self._exit)
        self._tool_runs = ToolRuns(
            business, tools, tool_ctx, self._holding, self._events, self._feed.publish
        )
        self._limits = CallLimits(
            offer.call_id,
            self,
            business,
            settings,
            self._reply,
            self._caller_audio,
            self._keeper,
            self._exit,
            self._current_link,
        )
        self._controls = GatewayControls(
            offer,
            self,
            settings,
            self._events,
            takeover,
            self._reply,
            self._caller_audio,
            self._cutter,
            self._transfers,
            self._exit,
            self._phase,
            self._current_link,
        )
        #: The business's settings, followed during the call (``lookup``: as stored now).
        self._live = LiveSettings(
            offer.call_id, business, lookup, self._keeper, self._limits, self._tool_runs
        )
        if takeover is not None:
            self._events.adopt(takeover.events)
            earlier = rebuild(takeover.events)
            self._caller_turns, self._turns.count = earlier.caller_turns, earlier.agent_turns

    # --- lifecycle ---------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Subscribe before the offer is accepted, so nothing the gateway sends is missed.
        The subscriptions' tasks are made inside the call's log scope, so they carry its ids."""
        with logs.call_scope(self.call_id, self.business.business_id):
            await self._subscribe()

    async def _subscribe(self) -> None:
        inbox = self._takeover.inbox if self._takeover is not None else None
        if inbox is not None:  # subscribed before the lease was taken (see call_inbox)
            self._subs = inbox.deliver_to(self._controls.on_control, self._caller_audio.on_audio)
            return
        self._subs = [
            await self._nc.subscribe(
                subjects.agent_control(self.call_id, self.epoch), cb=self._controls.on_control
            ),
            await self._nc.subscribe(
                subjects.caller_audio(self.call_id, self.epoch),
                cb=self._caller_audio.on_audio,
                pending_bytes_limit=self._settings.early_audio_pending_bytes,
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
            self._trace.call_span = span
            try:
                await self._converse()
            except Exception as exc:
                log.exception("call %s: session failed", self.call_id)
                self.end_reason = self.end_reason or "session_error"
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                why = f"{type(exc).__name__}: {exc}"
                await self._exit.give_up(why, self._settings.start_timeout_s)
            finally:
                await self._release()
                span.set_attribute("call.end_reason", self.end_reason or "ended")

    async def hang_up_now(self, reason: str) -> None:
        """Have the gateway end the call at once (the agent is going away: drain deadline)."""
        self.end_reason = self.end_reason or reason
        if self._phase.live:
            await self._exit.hang_up_at_once(reason, traced=False)

    async def _converse(self) -> None:
        try:
            link = await self._keeper.start()
        except Exception:
            self.end_reason = "realtime_lost"  # the model could not be reached at all
            raise
        waited = await wait_for_stream(
            self._phase,
            self._owns_call if self._takeover is None else None,
            self._settings.offer_confirm_s,
            self._settings.start_timeout_s,
        )
        if waited is StreamWait.NOT_OURS:
            log.warning("call %s: its record does not name this agent: letting go", self.call_id)
            self.let_go()
            self.end_reason = "not_taken"
            return
        if waited is StreamWait.NEVER_STARTED:
            self.end_reason = "stream_never_started"
            log.warning("call %s: media stream never started", self.call_id)
            return
        if self._phase.ended.is_set():
            return
        await self._caller_audio.flush(link)
        if self._takeover is None:
            await link.respond(greeting_instructions(self.business.greeting))
        else:  # no second greeting: the conversation goes on where the caller left it
            await carry_on(link, self.conversation(), self.business.greeting)
        self._caller_audio.last_audio_at = time.monotonic()
        pump = asyncio.create_task(self._keeper.pump(link), name=f"pump-{self.call_id}")
        ended = asyncio.create_task(self._phase.ended.wait())
        watchdog = asyncio.create_task(self._limits.watch_media())
        limits = asyncio.create_task(self._limits.watch())
        await asyncio.wait({pump, ended, watchdog}, return_when=asyncio.FIRST_COMPLETED)
        for task in (pump, ended, watchdog, limits):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if pump.done() and not pump.cancelled() and not self._phase.ended.is_set():
            # The model is gone for good (its link dropped and could not be opened again):
            # the caller must hear why the line goes quiet, not sit in dead air.
            failure = pump.exception()
            self.end_reason = "realtime_lost"
            log.warning("call %s: the model cannot be reached: %r", self.call_id, failure)
            why = f"realtime_lost: {failure!r}" if failure else "realtime_lost"
            await self._exit.give_up(why, self._settings.start_timeout_s)

    async def _release(self) -> None:
        self._trace.end_turn("call ended")
        await self._story.close(
            started_at=self._controls.started_at,
            caller_turns=self._caller_turns,
            reason=self.end_reason,
            usage=self._trace.usage,
            detail=self._exit.detail,
        )
        if self._story.superseded:
            self.end_reason = "superseded"
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        for task in list(self._background):
            task.cancel()
        if self._link is not None:
            with contextlib.suppress(Exception):
                await self._link.close()
        log.info("call %s: session closed (%s)", self.call_id, self.end_reason or "ended")

    @property
    def awaiting_stream(self) -> bool:
        """Taken, and its media stream has neither started nor been given up on: a repeat of
        its offer asks the same question again."""
        return not self._phase.settled.is_set()

    async def _owns_call(self) -> bool | None:
        return await still_owner(self._nc, self.lease)

    def let_go(self) -> None:
        """The call moved to another agent (this one was cut off or hung): stop serving it
        and write nothing more of its story."""
        self._story.superseded = True
        self.end_reason = "superseded"
        self._phase.end()

    # --- for the link keeper (LinkHost), the limits (LimitsHost), the controls (ControlsHost) -

    def attach(self, link: RealtimeLink | None) -> None:
        self._link = self._caller_audio.link = link
        if link is None:
            self._linked.clear()
        else:
            self._linked.set()

    async def _link_ready(self) -> RealtimeLink | None:
        """The call's link, waiting (bounded by the outage window) while one is replaced."""
        if self._link is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.realtime_outage_window_s + 1.0):
                    await self._linked.wait()
        return self._link

    def tools_answering(self) -> bool:
        return self._tool_runs.answering

    def _current_link(self) -> RealtimeLink | None:
        return self._link

    async def link_dropped(self) -> None:
        await self._cutter.cut_at_drop()

    def hold_the_line(self) -> None:
        if self._phase.live:
            log.warning(
                "call %s: the model is away; the caller hears our holding line", self.call_id
            )
            self.spawn(self._play_holding_line())

    async def _play_holding_line(self) -> None:
        async def publish(chunk: bytes) -> None:
            await self._nc.publish(self._audio_subject, chunk)

        await holding.play(holding.clip_for(self.business), self._ledger, publish)

    def forget_response(self) -> None:
        self._reply.active_response = None

    def conversation(self) -> Resumption:
        return with_unconfirmed(rebuild(self._events.history), self._turns.unconfirmed())

    async def catch_up(self, link: RealtimeLink) -> bool:
        return await self._caller_audio.catch_up(link)

    @property
    def on_hold(self) -> bool:
        return self._transfers.ringing

    async def stream_lost(self) -> None:
        if await still_owner(self._nc, self.lease) is False:
            self.let_go()  # the call moved on while this agent was cut off
            return
        await ask_for_new_stream(self._nc, self.call_id, self._settings.agent_id, self.epoch)

    def settings_pending(self) -> bool:
        return self._live.changed() is not None

    async def quiet_moment(self) -> None:
        """A turn boundary: the business's new settings, if any, apply from here."""
        if not self._reply.agent_quiet() or self._caller_audio.speaking:
            return
        if await self._live.apply(self._link):
            self.business = self._live.business

    def awaiting_answer(self) -> bool:
        stopped = self._speech_stopped_at  # cleared by the answer's first audio
        return stopped is not None and time.perf_counter() - stopped < ANSWER_EXPECTED_S

    # --- from the model ----------------------------------------------------------------------

    async def handle(self, event: AudioDelta | RealtimeServerEvent) -> None:
        """One event from the model (the link keeper's pump calls this for each)."""
        if isinstance(event, AudioDelta):
            await self._on_audio(event)
        elif isinstance(event, InputAudioBufferSpeechStartedEvent):
            self.last_activity = time.monotonic()
            self._caller_audio.speech_started()
            self._speech_started_at = time.perf_counter()
            await self._cutter.barge_in(self._speech_started_at)
        elif isinstance(event, InputAudioBufferSpeechStoppedEvent):
            self.last_activity = time.monotonic()
            self._caller_audio.speech_stopped()
            self._speech_stopped_at = time.perf_counter()
            self._trace.begin_turn(self._caller_turns + 1)
        elif isinstance(event, ResponseAudioTranscriptDeltaEvent):
            self._reply.in_flight.add(event.item_id, event.delta)
        elif isinstance(event, ResponseCreatedEvent):
            self._reply.active_response = event.response.id
        elif isinstance(event, ResponseOutputItemDoneEvent):
            self._tool_runs.start(event)
        elif isinstance(event, ResponseDoneEvent):
            await self._on_response_done(event)
        elif isinstance(event, ConversationItemInputAudioTranscriptionCompletedEvent):
            self._caller_turns += 1
            log.info("call %s: caller said %s", self.call_id, logs.private(event.transcript))
            self._events.caller_turn(event.transcript, event.item_id)
            await self._feed.said(Speaker.CALLER, event.transcript, event.item_id)
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
            latency_s = time.perf_counter() - self._speech_stopped_at
            metrics.TURN_LATENCY.observe(latency_s)
            self._turn_latency_ms[delta.item_id] = latency_s * 1000.0
            self._speech_stopped_at = None
            self._trace.end_turn()
        self.last_activity = time.monotonic()
        seq = self._ledger.record(delta.item_id, len(delta.audio))
        await self._nc.publish(self._audio_subject, encode_agent_chunk(seq, delta.audio))
        metrics.FRAMES_OUT.inc()

    async def _on_response_done(self, event: ResponseDoneEvent) -> None:
        response = event.response
        if response.id == self._reply.active_response:
            self._reply.active_response = None
        self._holding.response_done(response.metadata)
        interrupted = response.status == "cancelled" or response.id in self._interrupted
        self._trace.count(response.usage)
        self._reply.in_flight.forget(item.id or "" for item in response.output or [])
        spoke = False
        for item in response.output or []:
            if isinstance(item, RealtimeConversationItemAssistantMessage):
                text = " ".join(c.transcript or c.text or "" for c in item.content).strip()
                if text:
                    spoke = True
                    self._turns.spoken(item.id or "", text)
                    await self._feed.said(Speaker.AGENT, text, item.id or "", interrupted)
        runs = self._tool_runs.take(response.id or "")
        if self._reply.answer_owed:  # a key was pressed (or the stream lost) during that reply
            self._reply.answer_owed = False
            if not runs and not self._exit.requested and self._link is not None:
                await self._link.respond()
                return
        if runs:
            completed = response.status == "completed"
            self.spawn(self._answer_tools(runs, respond=completed, spoke=spoke))
        elif self._exit.requested:
            await self._exit.leave()  # the last words are out: end the call once they have played

    async def _answer_tools(self, runs: list[Run], respond: bool, spoke: bool) -> None:
        """Give the model its tools' results and let it answer, except after a goodbye: a
        response that said its last words and called ``end_call`` or ``transfer_call`` (what
        real models do) is the end, with no second line before the hang-up."""
        link = self._link
        if link is None:
            return

        def said_goodbye() -> bool:  # read once the runs are done: end_call asks during them
            return spoke and self._exit.requested

        await self._tool_runs.answer(
            runs,
            link,
            link_ready=self._link_ready,
            respond=lambda: respond and not said_goodbye(),
            speech_stopped_at=self._speech_stopped_at if respond else None,
            may_speak=lambda: (
                self._reply.active_response is None and not self._caller_audio.speaking
            ),
        )
        if self._exit.requested and (not respond or said_goodbye()):
            await self._exit.leave()

    def _agent_turn_final(
        self, text: str, item_id: str, interrupted: bool, played_ms: int | None, produced_ms: int
    ) -> None:
        self._events.agent_turn(
            text,
            item_id,
            interrupted=interrupted,
            played_ms=played_ms,
            produced_ms=produced_ms,
            latency_ms=self._turn_latency_ms.pop(item_id, None),
        )

    # --- helpers -----------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
