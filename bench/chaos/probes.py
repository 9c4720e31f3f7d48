"""What the harness sees of a running stack from outside: who owns each call (the call
records), which agents are alive and how many calls they hold (their heartbeats), the
Realtime sessions still open (the simulator's introspection API), and each call's stored
events once its ``call_ended`` is in."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import httpx
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from switchboard_common import subjects
from switchboard_common.bus import BUS_UNAVAILABLE
from switchboard_common.event_stream import EventStreamError, by_type, read_call
from switchboard_common.events import (
    STREAM_SUBJECT,
    AnyCallEvent,
    CallEndedEvent,
    ToolCalledEvent,
    parse_event,
)
from switchboard_common.messages import AgentHeartbeat, CallRecord, CallState
from switchboard_sim.stack import nats_servers

#: A heartbeat older than this is from an agent that is gone or hung.
BEAT_FRESH_S = 1.0
POLL_S = 0.1
#: The Realtime simulator's audio chunk (its default).
SIM_CHUNK_MS = 50


@dataclass(frozen=True)
class EventCheck:
    """One call's stored story: events missing from ``seq`` 1..N (a missing ``call_ended``
    counts as one), events stored twice (a second ``call_ended`` counts as one)."""

    missing: int
    duplicated: int
    ended_reason: str


def check_events(events: list[AnyCallEvent]) -> EventCheck:
    seqs = [e.seq for e in events]
    top = max(seqs, default=0)
    ended = by_type(events, CallEndedEvent)
    missing = len(set(range(1, top + 1)) - set(seqs)) + (not ended)
    duplicated = len(seqs) - len(set(seqs)) + max(len(ended) - 1, 0)
    return EventCheck(missing, duplicated, ended[-1].reason if ended else "")


async def _quiet(exc: Exception) -> None:
    return None


class Probe:
    """The harness's own bus connection and HTTP client for one stack."""

    def __init__(self, nc: Client, kv: KeyValue, realtime_url: str) -> None:
        self.nc = nc
        self.kv = kv
        self.realtime_url = realtime_url
        self.http = httpx.AsyncClient(timeout=5)
        #: agent id → (its last heartbeat, when it came).
        self.beats: dict[str, tuple[AgentHeartbeat, float]] = {}
        #: call id → the tools it ran, as their events were published.
        self.tools: dict[str, list[ToolCalledEvent]] = {}

    @classmethod
    async def open(cls, nats_url: str, realtime_url: str) -> Probe:
        nc = await nats.connect(
            nats_servers(nats_url),
            reconnect_time_wait=0.1,
            max_reconnect_attempts=-1,
            error_cb=_quiet,  # the faults make the bus go away on purpose
        )
        kv = await nc.jetstream().key_value(subjects.CALLS_BUCKET)
        probe = cls(nc, kv, realtime_url)
        await nc.subscribe(subjects.AGENT_HEARTBEATS, cb=probe._on_beat)
        await nc.subscribe(STREAM_SUBJECT, cb=probe._on_event)
        return probe

    async def close(self) -> None:
        await self.http.aclose()
        with contextlib.suppress(*BUS_UNAVAILABLE):
            await self.nc.close()

    async def _on_beat(self, msg: Msg) -> None:
        with contextlib.suppress(ValueError):
            beat = AgentHeartbeat.model_validate_json(msg.data)
            self.beats[beat.agent_id] = (beat, time.monotonic())

    async def _on_event(self, msg: Msg) -> None:
        event = parse_event(msg.data)
        if isinstance(event, ToolCalledEvent):
            self.tools.setdefault(event.call_id, []).append(event)

    async def wait_tool(self, call_ids: list[str], name: str, timeout_s: float) -> None:
        """Until every call has run the tool ``name`` (polled, bounded)."""
        async with asyncio.timeout(timeout_s):
            while True:
                if all(any(t.name == name for t in self.tools.get(c, [])) for c in call_ids):
                    return
                await asyncio.sleep(POLL_S)

    def slots_open(self) -> int:
        """Calls held by the agents that are beating now."""
        now = time.monotonic()
        return sum(b.active_calls for b, at in self.beats.values() if now - at <= BEAT_FRESH_S)

    async def sessions(self) -> list[dict[str, Any]]:
        response = await self.http.get(f"{self.realtime_url}/_sim/sessions")
        response.raise_for_status()
        sessions: list[dict[str, Any]] = response.json()
        return sessions

    async def open_sessions(self) -> list[dict[str, Any]]:
        return [s for s in await self.sessions() if s["connected"]]

    async def record(self, call_id: str) -> CallRecord | None:
        try:
            entry = await self.kv.get(call_id)
        except KeyNotFoundError:
            return None
        except BUS_UNAVAILABLE:
            return None
        return CallRecord.model_validate_json(entry.value) if entry.value else None

    async def wait_streaming(self, call_ids: list[str], timeout_s: float) -> dict[str, CallRecord]:
        """Every call's record once all of them stream (polled, bounded)."""
        async with asyncio.timeout(timeout_s):
            while True:
                records = {c: await self.record(c) for c in call_ids}
                if all(r is not None and r.state == CallState.STREAMING for r in records.values()):
                    return {c: r for c, r in records.items() if r is not None}
                await asyncio.sleep(POLL_S)

    async def wait_sessions_speaking(self, count: int, into_ms: int, timeout_s: float) -> None:
        """Until ``count`` connected sessions have streamed at least ``into_ms`` of audio."""
        chunks = into_ms // SIM_CHUNK_MS
        async with asyncio.timeout(timeout_s):
            while True:
                live = await self.open_sessions()
                deltas = [int(s["sent_counts"].get("response.output_audio.delta", 0)) for s in live]
                if sum(d >= chunks for d in deltas) >= count:
                    return
                await asyncio.sleep(POLL_S)

    async def events(self, call_id: str, timeout_s: float) -> list[AnyCallEvent]:
        """The call's events once its ``call_ended`` is stored, or what is stored when
        ``timeout_s`` runs out without it."""
        deadline = time.monotonic() + timeout_s
        events: list[AnyCallEvent] = []
        while True:
            with contextlib.suppress(TimeoutError, EventStreamError, *BUS_UNAVAILABLE):
                events = await read_call(self.nc.jetstream(), call_id)
                if by_type(events, CallEndedEvent):
                    return events
            if time.monotonic() >= deadline:
                return events
            await asyncio.sleep(POLL_S)

    async def left_open(self, calls_ended_at: float, linger_s: float) -> tuple[int, int]:
        """(Realtime sessions, agent slots) still open ``linger_s`` after the last call ended
        (polled until both are zero or that moment has passed)."""
        while True:
            sessions, slots = len(await self.open_sessions()), self.slots_open()
            if (sessions == 0 and slots == 0) or time.monotonic() >= calls_ended_at + linger_s:
                return sessions, slots
            await asyncio.sleep(POLL_S)
