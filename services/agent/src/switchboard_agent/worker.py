"""The agent's control plane: take calls from the pool, report liveness, drain on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from openai import AsyncOpenAI
from pydantic import ValidationError

from switchboard_common import subjects, tracing
from switchboard_common.business import BusinessLookup
from switchboard_common.lifecycle import wait_until_idle
from switchboard_common.messages import AgentHeartbeat, CallOffer, CallOfferReply

from . import metrics
from .session import CallSession
from .settings import AgentSettings
from .takeover import TakeoverRefused, take_over
from .tools import ToolRegistry

log = logging.getLogger(__name__)


class AgentWorker:
    """Joins the dispatch queue group while it has room, and leaves it when full, so a gateway's
    offer lands on an agent that can take it. It also answers offers addressed to it by name
    (what gateways send first, to an agent they hear beating with room), declining when it
    has no room."""

    def __init__(
        self,
        settings: AgentSettings,
        nc: Client,
        directory: BusinessLookup,
        tools: ToolRegistry,
        openai: AsyncOpenAI,
    ) -> None:
        self.settings = settings
        self.agent_id = settings.agent_id
        self._nc = nc
        self._directory = directory
        self._tools = tools
        self._openai = openai
        self.sessions: dict[str, CallSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._dispatch: Subscription | None = None
        self._direct: Subscription | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._accepting = True

    async def start(self) -> None:
        self._direct = await self._nc.subscribe(
            subjects.agent_offer(self.agent_id), cb=self._on_offer
        )
        await self._join_pool()
        self._heartbeat = asyncio.create_task(self._beat(), name="heartbeat")

    @property
    def accepting(self) -> bool:
        return self._accepting

    async def stop(self, deadline_s: float = 10.0, stop_now: asyncio.Event | None = None) -> None:
        """Drain: leave the pool, let running calls finish until the deadline (or until
        ``stop_now``), then hang the rest up through their gateway and cut them."""
        self._accepting = False
        await self._leave_pool()
        await self._announce()  # gateways stop naming it now, not at the next beat
        log.info("draining: %d calls in progress", len(self.sessions))
        idle = await wait_until_idle(lambda: len(self._tasks), deadline_s, stop_now)
        if not idle:
            log.warning("drain deadline: hanging up %d calls", len(self.sessions))
            for session in list(self.sessions.values()):
                await session.hang_up_now("agent_shutdown")
            pending = set(self._tasks)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._direct is not None:  # until now a named offer got a quick "draining"
            sub, self._direct = self._direct, None
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _join_pool(self) -> None:
        if self._dispatch is None and self._accepting:
            self._dispatch = await self._nc.subscribe(
                subjects.AGENT_DISPATCH, queue=subjects.AGENT_QUEUE_GROUP, cb=self._on_offer
            )

    async def _leave_pool(self) -> None:
        if self._dispatch is not None:
            sub, self._dispatch = self._dispatch, None
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _beat(self) -> None:
        while True:
            await self._announce()
            await asyncio.sleep(self.settings.heartbeat_interval_s)

    async def _announce(self) -> None:
        """One heartbeat: alive, its calls, its capacity, and whether it is draining."""
        beat = AgentHeartbeat(
            agent_id=self.agent_id,
            active_calls=len(self.sessions),
            capacity=self.settings.max_calls,
            interval_s=self.settings.heartbeat_interval_s,
            draining=not self._accepting,
        )
        with contextlib.suppress(Exception):
            await self._nc.publish(subjects.agent_heartbeat(self.agent_id), beat.to_bytes())

    async def _on_offer(self, msg: Msg) -> None:
        try:
            offer = CallOffer.model_validate_json(msg.data)
        except ValidationError as exc:
            log.warning("unreadable call offer: %s", exc)
            return
        with tracing.attached(tracing.extract_context(msg)):  # the call's task inherits it
            reply = await self._take(offer)
        with contextlib.suppress(Exception):
            await msg.respond(reply.to_bytes())

    async def _take(self, offer: CallOffer) -> CallOfferReply:
        def decline(reason: str) -> CallOfferReply:
            log.info("call %s declined: %s", offer.call_id, reason)
            return CallOfferReply(
                call_id=offer.call_id, accepted=False, agent_id=self.agent_id, reason=reason
            )

        if not self._accepting:
            return decline("draining")
        # This agent may have been judged lost (it hung) and be offered its own call again:
        # its session of it is stale then, to be let go, and the call taken over afresh.
        stale = self.sessions.get(offer.call_id)
        replacing = stale is not None and offer.resume and offer.epoch > stale.epoch
        if stale is not None and not replacing:
            if not offer.resume and offer.epoch == stale.epoch and stale.awaiting_stream:
                # The same offer again: this agent's answer came after the gateway stopped
                # waiting and it asked once more (through the pool), or Twilio retried its
                # webhook. The call is this agent's: the same answer, not a refusal that would
                # leave the caller with nobody while this agent holds the call.
                log.info("call %s: offered again while taken here: accepted again", offer.call_id)
                return CallOfferReply(call_id=offer.call_id, accepted=True, agent_id=self.agent_id)
            return decline("call already taken")
        if len(self.sessions) - replacing >= self.settings.max_calls:
            return decline("at capacity")
        business = self._directory.get(offer.business_id)
        if business is None:
            return decline(f"unknown business {offer.business_id!r}")
        takeover = None
        if offer.resume:
            try:
                takeover = await take_over(
                    self._nc, offer, self.agent_id, self.settings.early_audio_pending_bytes
                )
            except TakeoverRefused as exc:
                return decline(str(exc))
        if stale is not None:
            stale.let_go()
        directory = self._directory
        session = CallSession(
            offer,
            business,
            self.settings,
            self._nc,
            self._openai,
            self._tools,
            takeover,
            lookup=lambda: directory.get(offer.business_id),
        )
        await session.prepare()
        self.sessions[offer.call_id] = session
        metrics.ACTIVE_CALLS.inc()
        task = asyncio.create_task(self._serve(session), name=f"call-{offer.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if len(self.sessions) >= self.settings.max_calls:
            await self._leave_pool()
        log.info("call %s taken for %s", offer.call_id, business.business_id)
        return CallOfferReply(call_id=offer.call_id, accepted=True, agent_id=self.agent_id)

    async def _serve(self, session: CallSession) -> None:
        try:
            await session.run()
        finally:
            if self.sessions.get(session.call_id) is session:  # not its successor here
                del self.sessions[session.call_id]
            metrics.ACTIVE_CALLS.dec()
            if len(self.sessions) < self.settings.max_calls:
                await self._join_pool()
