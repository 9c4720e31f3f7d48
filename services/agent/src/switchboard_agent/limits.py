"""The call's limits: how long it may last, how long the caller may stay silent, and how long
the caller's audio may stop before the call is treated as lost.

Why: each of these ends a call the agent would otherwise hold forever. The business's limits
end it politely (the agent says goodbye, then hangs up); lost media ends it at once. The
quiet moments the limits look for are also when the Realtime session is rolled over, and the
once-a-second check is where a rollover that found no quiet moment in time is forced before
the provider's cap (nothing is added to the per-frame path for it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from switchboard_common.business import BusinessProfile

from .call_exit import CallExit
from .caller_audio import CallerAudio
from .realtime.keeper import LinkKeeper
from .realtime.link import RealtimeLink
from .reply import ReplyState
from .settings import AgentSettings

MAX_LENGTH_GOODBYE = "We've reached the time limit for this call. Thank you for calling, goodbye!"
SILENCE_GOODBYE = "I haven't heard anything for a while, so I'll end the call now. Goodbye!"

#: How often the media watch looks again while the caller is away on a transfer.
HOLD_CHECK_S = 0.5

log = logging.getLogger(__name__)


class LimitsHost(Protocol):
    """What the limits read of the call they watch (implemented by the call session)."""

    end_reason: str

    @property
    def last_activity(self) -> float:
        """When either side last spoke or the caller pressed a key (monotonic)."""

    async def stream_lost(self) -> None:
        """The caller's audio stopped (the call's gateway died): get the stream back."""

    @property
    def on_hold(self) -> bool:
        """The caller is away on a transfer that is ringing: their audio is not expected."""

    async def quiet_moment(self) -> None:
        """Neither side is speaking (a turn boundary): a moment to change the session."""

    def awaiting_answer(self) -> bool:
        """The caller has just finished a turn and its answer has not started: a new session
        now could lose what they said."""


class CallLimits:
    def __init__(
        self,
        call_id: str,
        host: LimitsHost,
        business: BusinessProfile,
        settings: AgentSettings,
        reply: ReplyState,
        caller_audio: CallerAudio,
        keeper: LinkKeeper,
        exit_: CallExit,
        link: Callable[[], RealtimeLink | None],
    ) -> None:
        self._call_id = call_id
        self._host = host
        self._business = business
        self._settings = settings
        self._reply = reply
        self._caller_audio = caller_audio
        self._keeper = keeper
        self._exit = exit_
        self._link = link

    def use_business(self, business: BusinessProfile) -> None:
        """The business's limits changed during the call: they apply from the next check."""
        self._business = business

    async def watch_media(self) -> None:
        """Twilio streams audio all the time, silence included: a call whose audio stops has
        lost its gateway. Once Twilio's own re-entry (the ``<Connect action>`` URL) had its
        chance, ask a gateway to bring the call back through the REST API; a call whose audio
        stays away must not hold this agent's capacity forever. Returns when that happens."""
        timeout = self._settings.media_timeout_s
        ask_after = self._settings.stream_reentry_wait_s
        asked = False
        while True:
            if self._host.on_hold:
                asked = False
                await asyncio.sleep(HOLD_CHECK_S)
                continue
            quiet = time.monotonic() - self._caller_audio.last_audio_at
            if quiet > timeout:
                self._host.end_reason = "gateway_lost"
                log.warning("call %s: no caller audio for %.0f s, ending", self._call_id, quiet)
                return
            if quiet <= ask_after:
                asked = False  # audio flows: a later loss asks again
            elif not asked:
                asked = True
                log.warning("call %s: no caller audio for %.1f s", self._call_id, quiet)
                await self._host.stream_lost()
                continue
            next_check = timeout if asked else ask_after
            await asyncio.sleep(max(0.01, next_check - quiet + 0.01))

    async def watch(self) -> None:
        """The business's limits end a call politely: the agent says goodbye, then hangs up.
        Caller silence counts only while the agent is quiet too (nothing playing or coming).
        While the call is leaving (an exit was asked for), the limits wait: a transfer that
        fails brings the call back."""
        started = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            if self._keeper.rollover_overdue(now) and not self._host.awaiting_answer():
                await self._keeper.roll_over()  # no quiet moment came: before the cap, anyway
            if self._exit.requested:
                continue
            agent_quiet = self._reply.agent_quiet()
            if agent_quiet and not self._caller_audio.speaking:
                await self._host.quiet_moment()
            if agent_quiet and self._keeper.rollover_due(now) and not self._host.awaiting_answer():
                await self._keeper.roll_over()  # (a caller mid-sentence is replayed to it)
            if now - started >= self._business.max_call_length_s:
                await self._goodbye(MAX_LENGTH_GOODBYE, "max_call_length")
            elif (
                agent_quiet
                and now - self._host.last_activity >= self._business.caller_silence_timeout_s
            ):
                await self._goodbye(SILENCE_GOODBYE, "caller_silence")

    async def _goodbye(self, words: str, reason: str) -> None:
        link = self._link()
        if link is None or self._reply.active_response is not None:
            return  # try again on the next tick
        log.info("call %s: ending (%s)", self._call_id, reason)
        self._exit.request_exit("hang_up", reason)
        await link.respond(f'Say exactly: "{words}"')
