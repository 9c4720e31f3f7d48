"""What the gateway tells a call's agent about the phone line, and what each message sets going.

Why: the gateway reports the line's side of the call on the agent's control subject: the
stream started (or came back through another gateway), playback caught up with the agent, the
caller pressed a key, a transfer rang out, the call ended. Each message is read here, turned
into the call's events and the model's next move, and the session keeps the audio paths and
the model's own events. The answer owed after a key press or a lost stream is left in the
shared :class:`ReplyState`, where the session finds it when the reply in progress ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from nats.aio.msg import Msg
from pydantic import ValidationError

from switchboard_common import logs
from switchboard_common.business import BusinessProfile
from switchboard_common.event_stream import CallEventPublisher
from switchboard_common.messages import (
    CallEnded,
    CallerDtmf,
    CallOffer,
    CallStarted,
    EndReason,
    PlaybackIdle,
    TransferOutcome,
    agent_control_adapter,
)

from .call_exit import CallExit
from .call_phase import CallPhase
from .caller_audio import CallerAudio
from .interruptions import PlaybackCutter
from .realtime.link import RealtimeLink
from .reply import ReplyState
from .resume import keypress_text
from .settings import AgentSettings
from .takeover import Takeover
from .transfers import Transfers

log = logging.getLogger(__name__)


class ControlsHost(Protocol):
    """What the controls change in the call they serve (implemented by the call session)."""

    end_reason: str
    #: When either side last spoke or the caller pressed a key (monotonic).
    last_activity: float

    @property
    def business(self) -> BusinessProfile:
        """The business's settings as the call follows them now."""

    async def quiet_moment(self) -> None:
        """Neither side is speaking (a turn boundary)."""

    def settings_pending(self) -> bool:
        """The business's settings changed since the call last applied them."""

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` alongside the call (cancelled when it ends)."""

    def let_go(self) -> None:
        """The call is another agent's: stop serving it and write nothing more about it."""


class GatewayControls:
    def __init__(
        self,
        offer: CallOffer,
        host: ControlsHost,
        settings: AgentSettings,
        events: CallEventPublisher,
        takeover: Takeover | None,
        reply: ReplyState,
        caller_audio: CallerAudio,
        cutter: PlaybackCutter,
        transfers: Transfers,
        exit_: CallExit,
        phase: CallPhase,
        link: Callable[[], RealtimeLink | None],
    ) -> None:
        self._call_id = offer.call_id
        self._offer = offer
        self._host = host
        self._settings = settings
        self._events = events
        self._takeover = takeover
        self._reply = reply
        self._caller_audio = caller_audio
        self._cutter = cutter
        self._transfers = transfers
        self._exit = exit_
        self._phase = phase
        self._link = link
        #: When the call began (monotonic; None until its stream first started).
        self.started_at: float | None = None

    async def on_control(self, msg: Msg) -> None:
        """The subscription's callback for the agent's control subject."""
        try:
            event = agent_control_adapter.validate_json(msg.data)
        except ValidationError as exc:
            log.warning("call %s: unreadable control message: %s", self._call_id, logs.private(exc))
            return
        host = self._host
        if isinstance(event, CallStarted) and not self._streams_to_us(event):
            host.let_go()
        elif isinstance(event, CallStarted) and self.started_at is not None:
            host.spawn(self._stream_back(event))
        elif isinstance(event, CallStarted):
            self._begin(event)
        elif isinstance(event, PlaybackIdle):
            # The caller has just heard the agent's last words: timers that wait on the agent
            # (the caller's silence) count from now, not from when the model made them.
            host.last_activity = time.monotonic()
            self._reply.idle_through = max(self._reply.idle_through, event.last_chunk)
            self._reply.turns.played_through(event.last_chunk)
            # Told several times a second while the agent talks: only a change is worth a task.
            quiet = self._reply.agent_quiet() and not self._caller_audio.speaking
            if quiet and host.settings_pending():
                host.spawn(host.quiet_moment())
        elif isinstance(event, CallerDtmf):
            host.last_activity = time.monotonic()
            self._events.dtmf(event.digit)
            host.spawn(self._tell_keypress(event.digit))
        elif isinstance(event, TransferOutcome):
            await self._transfer_outcome(event)
        elif (
            isinstance(event, CallEnded)
            and event.reason == EndReason.TRANSFERRED
            and self._transfers.stream_ended()
        ):
            pass  # the caller is with Twilio for now: the transfer's outcome decides
        elif isinstance(event, CallEnded):
            # The agent's own reason, when it ended the call, says more than the gateway's.
            host.end_reason = host.end_reason or event.reason.value
            self._phase.end()

    def _streams_to_us(self, event: CallStarted) -> bool:
        """Whether the gateway streams the call to this agent. Not when this agent accepted
        the offer after the gateway had stopped waiting (it stalled past the offer's timeout)
        and given the call to another: both listen on the call's first-epoch subjects, and
        the caller must hear one of them. Told before this agent has said or written a word."""
        if event.agent_id is None or event.agent_id == self._settings.agent_id:
            return True
        log.warning(
            "call %s: the gateway streams it to %s; this agent's accept came too late: letting go",
            self._call_id,
            event.agent_id,
        )
        return False

    def _begin(self, event: CallStarted) -> None:
        """The call's first stream: the call starts, or (taken over) goes on."""
        self.started_at = time.monotonic()
        takeover = self._takeover
        if takeover is None:
            self._events.call_started(
                agent_id=self._settings.agent_id,
                gateway_id=event.gateway_id,
                from_number=self._offer.from_number,
                to_number=self._offer.to_number,
            )
        else:
            self.started_at = takeover.started_monotonic() or self.started_at
            self._events.call_resumed(
                agent_id=self._settings.agent_id,
                previous_agent_id=takeover.previous_agent_id,
                epoch=takeover.lease.epoch,
                reason="agent_lost",
            )
        self._phase.begin()

    async def _stream_back(self, event: CallStarted) -> None:
        """The call's stream was lost with its gateway and is back on a new one (re-entered
        through Twilio's action URL or a REST redirect): the conversation goes on. A reply the
        caller lost with the old stream is cut where they stopped hearing it and answered
        again."""
        log.warning("call %s: the stream is back through %s", self._call_id, event.gateway_id)
        self._host.last_activity = time.monotonic()
        if self._transfers.back():  # from a transfer nobody took: the model tells the caller
            link = self._link()
            if link is not None and self._reply.active_response is None:
                await link.respond()
            return
        if not await self._cutter.cut_at_stream_loss():
            return
        link = self._link()
        if link is None:
            return
        if self._reply.active_response is None:
            await link.respond()
        else:
            self._reply.answer_owed = True  # once the cut response has ended

    async def _tell_keypress(self, digit: str) -> None:
        """Key presses reach the model as a user message, and every one is answered. While the
        agent speaks, the business chooses: the key interrupts it as speech does (the server
        does not cancel for a key, so the agent does), or waits for the end of the reply."""
        link = self._link()
        if link is None or self.started_at is None:
            return
        reply = self._reply
        speaking = reply.active_response is not None or reply.playing()
        if speaking and self._host.business.keypress_while_speaking == "interrupt":
            if reply.active_response is not None and self._settings.interrupt_response:
                await link.cancel_response()  # (barge_in cancels when the server would not)
            await self._cutter.barge_in(None)
        await link.add_user_text(keypress_text(digit))
        if reply.active_response is None:
            await link.respond()
        else:
            reply.answer_owed = True  # asked for once the current reply is done

    async def _transfer_outcome(self, outcome: TransferOutcome) -> None:
        """Put through: the call is the person's now. Not: it goes on with the agent."""
        if await self._transfers.outcome(outcome, self._link()):
            # (a transfer made because the model was lost keeps that reason)
            self._host.end_reason = self._host.end_reason or "transferred"
            self._phase.end()
        elif not self._transfers.ringing:
            self._host.end_reason = ""
            self._exit.reopen()
            self._caller_audio.last_audio_at = time.monotonic()  # their stream is on its way
