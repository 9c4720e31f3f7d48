"""Keeping one call on a working Realtime session for its whole length.

Why: the provider's link can fail to open, drop mid-call, or hit the provider's session cap.
The keeper opens it with retries, pumps its events to the call, reconnects after a drop, and
rolls the call over to a new session before the cap; each new session is configured like the
first and given the conversation so far. What the call itself knows (its conversation, the
caller's unsent audio, the reply a drop cut short) it reports through :class:`LinkHost`.

A rollover is a drop we choose, with the new session already open: it is opened and
configured while the old one still serves, then the old one is closed and the pump moves the
call over exactly as after a drop (the reply in progress, if any, is cut where the caller
stopped hearing it, the new session is given the conversation and answers what is owed).
From ``realtime_session_rollover_s`` on, this waits for a quiet moment; by the deadline, a
margin before the provider's cap, it happens whatever the call is doing (see
:meth:`LinkKeeper.rollover_overdue`).
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

    async def catch_up(self, link: RealtimeLink) -> bool:
        """Send a new link the caller audio it missed, the utterance in progress too; returns
        whether the caller was mid-sentence."""

    def tools_answering(self) -> bool:
        """Tool results are on their way and will ask the new session to answer with them."""


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
        #: A rollover's new session, open and configured, until the pump moves the call to it.
        self._successor: RealtimeLink | None = None
        self._rolling = False

    async def start(self) -> RealtimeLink:
        """The call's first link, opened and configured. A model away at the start is waited
        for as a dropped one is: for the outage window, holding the line meanwhile."""
        link = await self._open_holding_the_line()
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
        """The session in use is old enough to be replaced at the next quiet moment."""
        return self._age(now) >= self._settings.realtime_session_rollover_s

    def rollover_overdue(self, now: float) -> bool:
        """No quiet moment came in time: the session must be replaced now, mid-reply if need
        be, or the provider's cap will cut it."""
        settings = self._settings
        deadline = settings.realtime_session_cap_s - settings.realtime_rollover_margin_s
        return self._age(now) >= deadline

    def _age(self, now: float) -> float:
        link = self._current
        return 0.0 if link is None else now - link.opened_at

    async def pump(self, link: RealtimeLink) -> None:
        """Read the model's events; when the connection drops, reconnect and carry on. A
        rollover (see :meth:`roll_over`) closes the old link on purpose, with its successor
        open. Returns when the link is lost for good."""
        from websockets.exceptions import ConnectionClosed

        handle = self._host.handle
        reconnects = 0
        while True:
            try:
                while True:
                    await handle(await link.next_event())
            except ConnectionClosed as exc:
                successor, self._successor = self._successor, None
                if successor is None and reconnects >= self._settings.realtime_max_reconnects:
                    self._host.end_reason = self._host.end_reason or "realtime_lost"
                    log.warning("call %s: Realtime connection lost: %s", self._call_id, exc)
                    return
                if successor is None:
                    reconnects += 1
                    metrics.REALTIME_RECONNECTS.inc()
                    log.warning(
                        "call %s: Realtime connection dropped (%s), reconnecting",
                        self._call_id,
                        exc,
                    )
                self._current = None
                self._host.attach(None)  # caller audio is kept until the next link takes it
                await self._host.link_dropped()
                link = await self._fresh_link(successor)
                self._use(link)

    async def roll_over(self) -> None:
        """Move the call to a new session before the provider's cap: it is opened and
        configured while the old one still serves, then the old one is closed and the pump
        moves the call over (see :meth:`pump`). A session that cannot be opened now is tried
        again at the next chance; the old one serves on meanwhile."""
        old = self._current
        if old is None or self._rolling or self._successor is not None:
            return
        self._rolling = True
        try:
            new = await self._open()
            await self._configure(new)
        except Exception as exc:
            log.warning("call %s: no new session to roll over to: %r", self._call_id, exc)
            return
        finally:
            self._rolling = False
        if self._current is not old:  # it dropped meanwhile and was replaced
            await new.close()
            return
        log.info("call %s: rolling the Realtime session over", self._call_id)
        self._successor = new
        metrics.REALTIME_ROLLOVERS.inc()
        await old.close()

    async def _open_holding_the_line(self) -> RealtimeLink:
        """At the start and after a drop: keep trying for the outage window; if the model is
        still away after a moment, the caller hears our holding line (not the model's), so the
        line is never dead while we wait."""
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

    async def _fresh_link(self, opened: RealtimeLink | None) -> RealtimeLink:
        """A new session (``opened`` by a rollover, or opened now after a drop) with the same
        configuration and the conversation so far, rebuilt from the call's events as the
        caller heard it, so the caller notices at most a short pause. It answers at once when
        the caller is owed an answer (their turn, or a reply cut short, went unanswered)."""
        self._host.forget_response()
        link = opened
        if link is None:
            link = await self._open_holding_the_line()
            await self._configure(link)
        resumed = self._host.conversation()
        await replay(link, resumed.items)
        speaking = await self._host.catch_up(link)
        if not speaking and resumed.greeting_due:
            await link.respond(greeting_instructions(self._business.greeting))
        elif resumed.answer_due and not speaking and not self._host.tools_answering():
            await link.respond()
        return link
