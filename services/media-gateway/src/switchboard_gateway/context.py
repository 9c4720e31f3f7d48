"""Everything the gateway's routes share, built once in the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import ValidationError

from switchboard_common import subjects
from switchboard_common.bus import on_disconnect, on_reconnect
from switchboard_common.business import BusinessLookup
from switchboard_common.business_store import BusinessStore
from switchboard_common.event_stream import end_story
from switchboard_common.lifecycle import wait_until_idle
from switchboard_common.messages import AgentHeartbeat, EndReason, ReconnectCall

from .calls.dispatch import Dispatcher
from .calls.handover import move_call
from .calls.liveness import AgentLiveness
from .calls.records import CallRecords
from .calls.reentry import reconnect
from .settings import GatewaySettings
from .twilio.rest import TwilioCallControl
from .twilio.signature import SignatureChecker

if TYPE_CHECKING:
    from .stream import MediaStreamSession

log = logging.getLogger(__name__)


@dataclass
class GatewayContext:
    settings: GatewaySettings
    nc: Client
    records: CallRecords
    directory: BusinessLookup
    businesses: BusinessStore
    signatures: SignatureChecker
    dispatcher: Dispatcher
    liveness: AgentLiveness
    #: Twilio's REST API for live-call updates; None when no account SID is configured.
    call_control: TwilioCallControl | None = None
    sessions: dict[str, MediaStreamSession] = field(default_factory=dict)
    accepting: bool = True
    #: Each agent's latest heartbeat and when it came (monotonic): the console's health page.
    agent_beats: dict[str, tuple[AgentHeartbeat, float]] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _moving: set[str] = field(default_factory=set)
    _moves: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        await self.nc.subscribe(subjects.AGENT_HEARTBEATS, cb=self._on_heartbeat)
        if self.call_control is not None:  # only a gateway that can reach Twilio's REST API
            await self.nc.subscribe(
                subjects.GATEWAY_RECONNECT,
                queue=subjects.GATEWAY_QUEUE_GROUP,
                cb=self._on_reconnect,
            )
        # Cut off from the bus, we hear no heartbeats: that says nothing about the agents.
        on_disconnect(self.nc, self.liveness.bus_lost)
        on_reconnect(self.nc, self.liveness.bus_back)
        self._tasks.append(asyncio.create_task(self._watch_agents(), name="watch-agents"))

    async def drain(self, stop_now: asyncio.Event) -> None:
        """Take no new calls (readiness turns false) and wait for the open ones to end, up to
        the drain deadline; :meth:`stop` then ends whatever is left."""
        self.accepting = False
        log.info("draining: %d calls in progress", len(self.sessions))
        idle = await wait_until_idle(
            lambda: len(self.sessions), self.settings.drain.timeout_s, stop_now
        )
        if not idle:
            log.warning("drain deadline passed with %d calls in progress", len(self.sessions))

    async def stop(self) -> None:
        """Stop taking calls, end the open ones, stop background work."""
        self.accepting = False
        for session in list(self.sessions.values()):
            await session.end(EndReason.GATEWAY_SHUTDOWN)
        for task in [*self._tasks, *self._moves]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _on_heartbeat(self, msg: Msg) -> None:
        try:
            beat = AgentHeartbeat.model_validate_json(msg.data)
        except ValidationError:
            log.warning("unreadable heartbeat on %s", msg.subject)
            return
        self.liveness.beat(beat.agent_id, beat.interval_s, beat.room)
        self.agent_beats[beat.agent_id] = (beat, time.monotonic())

    async def _on_reconnect(self, msg: Msg) -> None:
        try:
            request = ReconnectCall.model_validate_json(msg.data)
        except ValidationError:
            log.warning("unreadable reconnect request on %s", msg.subject)
            return
        reply = await reconnect(request, self)
        with contextlib.suppress(Exception):
            await msg.respond(reply.to_bytes())

    async def _watch_agents(self) -> None:
        """Move the calls of agents that stopped beating to another agent; a call no agent
        can take ends, and the caller hears an apology (the TwiML after <Connect>) instead of
        silence. Each call is moved in its own task, so one slow move delays no other."""
        while True:
            await asyncio.sleep(0.25)
            lost = [
                session
                for session in list(self.sessions.values())
                if session.agent_id and not self.liveness.alive(session.agent_id)
            ]
            if not lost or not await self._hearing_the_bus():
                continue
            for session in lost:
                if session.call_id in self._moving:
                    continue
                if session.agent_id and not self.liveness.alive(session.agent_id):
                    log.warning("call %s: agent %s lost", session.call_id, session.agent_id)
                    self._moving.add(session.call_id)
                    task = asyncio.create_task(self._move(session), name="move-call")
                    self._moves.add(task)
                    task.add_done_callback(self._moves.discard)

    async def _move(self, session: MediaStreamSession) -> None:
        try:
            if await move_call(session, self):
                return
            await session.end(EndReason.AGENT_LOST)
        finally:
            self._moving.discard(session.call_id)
        # Nobody else will write the end of this call's story: its agent is gone.
        try:
            await end_story(
                self.nc.jetstream(), session.business_id, session.call_id, EndReason.AGENT_LOST
            )
        except Exception as exc:
            log.warning("call %s: its call_ended was not written: %r", session.call_id, exc)

    async def _hearing_the_bus(self) -> bool:
        """Whether a round trip to our server works now, before silence is held against an
        agent. A connection that failed without closing (a partition, a dead host) still looks
        connected until its pings time out; this notices at once, and when the round trip
        works again every agent gets its whole window back (as after a reconnect)."""
        try:
            async with asyncio.timeout(self.settings.bus_probe_timeout_s):
                await self.nc.flush()
        except Exception as exc:  # timeout, or the connection is reconnecting or closed
            if self.liveness.judging:
                log.warning("the bus does not answer (%r): agents are not judged meanwhile", exc)
                self.liveness.bus_lost()
            return False
        if not self.liveness.judging:
            self.liveness.bus_back()
            return False
        return True
