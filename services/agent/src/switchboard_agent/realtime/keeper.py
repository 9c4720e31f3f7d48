"""Keeping one call on a working Realtime session for its whole length.

Why: the provider's link can fail to open, drop mid-call, or hit the provider's session cap.
The keeper opens it with retries, pumps its events to the call, reconnects after a drop, and
rolls the call over to a new session before the cap; each new session is configured like the
first and given the conversation so far. What the call itself knows (its conversation, the
caller's unsent audio, the reply a drop cut short) it reports through :class:`LinkHost`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from openai import AsyncOpenAI
from openai.types.realtime import RealtimeServerEvent

from switchboard_common.business import BusinessProfile

from .. import metrics
from ..resume import Resumption, replay
from ..settings import AgentSettings
from ..tools import ToolRegistry
from .link import AudioDelta, RealtimeLink
from .session_config import greeting_instructions, live_update, session_config

log = logging.getLogger(__name__)


class LinkHost(Protocol):
    """What the keeper needs of the call it serves (implemented by the call session)."""

    end_reason: str

    def attach(self, link: RealtimeLink | None) -> None:
        """The call's link from now on; None while a dropped one is replaced (caller audio
        is buffered meanwhile)."""

    async def handle(self, event: AudioDelta | RealtimeServerEvent) -> None:
        """One event from the model."""

    async def link_dropped(self) -> None:
        """The link dropped: settle the reply it was giving, as far as the caller heard it."""

    def forget_response(self) -> None:
        """A new session is being made: no response of the old one is in progress."""

    def conversation(self) -> Resumption:
        """The conversation so far, as the caller heard it."""

    def hold_the_line(self) -> None:
        """The model is away for longer than a moment: let the caller hear we are here."""

    async def catch_up(self, link: RealtimeLink, after_drop: bool) -> bool:
        """Send a new link the caller audio it missed (after a drop, the utterance in
        progress too); returns whether the caller was mid-sentence."""


class LinkKeeper:
    def __init__(
        self,
        call_id: str,
        host: LinkHost,
        openai: AsyncOpenAI,
        settings: AgentSettings,
        business: BusinessProfile,
        tools: ToolRegistry,
    ) -> None:
        self._call_id = call_id
        self._host = host
        self._openai = openai
        self._settings = settings
        self._business = business
        self._tools = tools
        self._current: RealtimeLink | None = None
        self._successor: RealtimeLink | None = None
        self._opened_at = time.monotonic()

    async def start(self) -> RealtimeLink:
        """The call's first link, opened and configured."""
        link = await self._open()
        self._use(link)
        await self._configure(link)
        return link

    def use_business(self, business: BusinessProfile) -> None:
        """The business's settings changed during the call: every session configured from
        now on (a rollover, a reconnect) gets them."""
        self._business = business

    async def refresh(self, link: RealtimeLink) -> None:
        """Bring the session in use up to date with the business (``session.update``)."""
        enabled = self._tools.definitions(self._business.enabled_tools)
        await link.configure(live_update(self._business, self._settings, enabled))

    def rollover_due(self, now: float) -> bool:
        return now - self._opened_at >= self._settings.realtime_session_rollover_s

    async def pump(self, link: RealtimeLink) -> None:
        """Read the model's events; when the connection drops, reconnect and carry on. A
        rollover (see :meth:`roll_over`) closes the old link on purpose, with its successor
        ready. Returns when the link is lost for good."""
        from websockets.exceptions import ConnectionClosed

        handle = self._host.handle
        reconnects = 0
        while True:
            try:
                while True:
                    await handle(await link.next_event())
            except ConnectionClosed as exc:
                if self._successor is not None:
                    link, self._successor = self._successor, None
                    self._use(link)
                    continue
                if reconnects >= self._settings.realtime_max_reconnects:
                    self._host.end_reason = self._host.end_reason or "realtime_lost"
                    log.warning("call %s: Realtime connection lost: %s", self._call_id, exc)
                    return
                reconnects += 1
                metrics.REALTIME_RECONNECTS.inc()
                log.warning(
                    "call %s: Realtime connection dropped (%s), reconnecting", self._call_id, exc
                )
                self._current = None
                self._host.attach(None)
                await self._host.link_dropped()
                link = await self._fresh_link(replay_speech=True)
                self._use(link)

    async def roll_over(self) -> None:
        """Before the provider's session cap, at a quiet moment, move the call to a new
        session: it is opened and given the conversation while the old one still serves, then
        the old one is closed and the pump carries on with the new one."""
        old = self._current
        if old is None or self._successor is not None:
            return
        log.info("call %s: rolling the Realtime session over", self._call_id)
        self._successor = await self._fresh_link()
        metrics.REALTIME_ROLLOVERS.inc()
        await old.close()

    async def _open_holding_the_line(self) -> RealtimeLink:
        """After a drop: keep trying for the outage window; if the model is still away after
        a moment, the caller hears our holding line (not the model's), so the line is never
        dead while we wait."""
        settings = self._settings
        holding = asyncio.get_running_loop().call_later(
            settings.realtime_holding_after_s, self._host.hold_the_line
        )
        try:
            return await self._open(settings.realtime_outage_window_s)
        finally:
            holding.cancel()

    def _use(self, link: RealtimeLink) -> None:
        self._current = link
        self._host.attach(link)
        self._opened_at = time.monotonic()

    async def _open(self, window_s: float | None = None) -> RealtimeLink:
        """Open the Realtime connection, retrying with growing pauses (the last one repeats)
        until ``window_s`` has passed (by default only the listed pauses): a blip must not
        cost the call, and an outage is waited out for a bounded time."""
        delays = self._settings.realtime_open_retry_delays_s
        deadline = None if window_s is None else time.monotonic() + window_s
        attempt = 0
        while True:
            attempt += 1
            try:
                return await RealtimeLink.open(self._openai, self._settings.model)
            except Exception as exc:
                if deadline is None:
                    if attempt > len(delays):
                        raise
                    delay = delays[attempt - 1]
                else:
                    delay = delays[min(attempt, len(delays)) - 1] if delays else 0.5
                    if time.monotonic() + delay > deadline:
                        raise
                log.warning(
                    "call %s: Realtime open failed (try %d): %s", self._call_id, attempt, exc
                )
                await asyncio.sleep(delay)

    async def _configure(self, link: RealtimeLink) -> None:
        enabled = self._tools.definitions(self._business.enabled_tools)
        await link.configure(session_config(self._business, self._settings, enabled))

    async def _fresh_link(self, replay_speech: bool = False) -> RealtimeLink:
        """A new session with the same configuration and the conversation so far, rebuilt
        from the call's events as the caller heard it, so the caller notices at most a short
        pause. After a drop (``replay_speech``) it answers at once when the caller is owed an
        answer."""
        self._host.forget_response()
        link = await self._open_holding_the_line() if replay_speech else await self._open()
        await self._configure(link)
        resumed = self._host.conversation()
        await replay(link, resumed.items)
        speaking = await self._host.catch_up(link, replay_speech)
        if replay_speech and not speaking and resumed.greeting_due:
            await link.respond(greeting_instructions(self._business.greeting))
        elif replay_speech and resumed.answer_due and not speaking:
            await link.respond()
        return link
