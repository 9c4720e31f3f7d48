"""Probes of a running call from outside: where the Realtime simulator's session is, and the
call's stored events once it is over."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import nats

from switchboard_common import subjects
from switchboard_common.event_stream import by_type, read_call
from switchboard_common.events import AnyCallEvent, CallEndedEvent
from switchboard_common.messages import CallRecord

#: The simulator's audio chunk (its default), and how far into the answer the link drops.
CHUNK_MS = 50
DROP_AFTER_MS = 4000


async def session_answering(
    http: httpx.AsyncClient, base: str, answered: int, into_ms: int = DROP_AFTER_MS
) -> str:
    """The call's session once it has finished ``answered`` responses and has streamed
    ``into_ms`` of the next one's audio (polled: the simulator's introspection API
    is the only view of it)."""
    deltas_at_start: int | None = None
    for _ in range(600):
        sessions: list[dict[str, Any]] = (await http.get(f"{base}/_sim/sessions")).json()
        live = [s for s in sessions if s["connected"] and len(s["responses"]) == answered]
        if live:
            deltas = int(live[0]["sent_counts"].get("response.output_audio.delta", 0))
            if deltas_at_start is None:
                deltas_at_start = deltas
            elif deltas >= deltas_at_start + into_ms // CHUNK_MS:
                return str(live[0]["id"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no session got past {answered} responses")


async def events_to_the_end(nats_url: str, call_id: str) -> list[AnyCallEvent]:
    """The call's events once its last one (``call_ended``) is stored (polled, bounded)."""
    nc = await nats.connect(nats_url)
    try:
        async with asyncio.timeout(10):
            while True:
                events = await read_call(nc.jetstream(), call_id)
                if by_type(events, CallEndedEvent):
                    return events
                await asyncio.sleep(0.1)
    finally:
        await nc.close()


async def call_record(nats_url: str, call_id: str) -> CallRecord:
    """The call's record as it stands now."""
    nc = await nats.connect(nats_url)
    try:
        kv = await nc.jetstream().key_value(subjects.CALLS_BUCKET)
        entry = await kv.get(call_id)
        assert entry.value
        return CallRecord.model_validate_json(entry.value)
    finally:
        await nc.close()


async def record_when(
    nats_url: str, call_id: str, reached: Callable[[CallRecord], bool], what: str
) -> CallRecord:
    """The call's record once ``reached`` holds for it (watched, not polled; bounded)."""
    nc = await nats.connect(nats_url)
    try:
        kv = await nc.jetstream().key_value(subjects.CALLS_BUCKET)
        watcher = await kv.watch(call_id)
        try:
            async with asyncio.timeout(20):
                async for entry in watcher:
                    if entry is not None and entry.value:
                        record = CallRecord.model_validate_json(entry.value)
                        if reached(record):
                            return record
        finally:
            await watcher.stop()
        raise AssertionError(f"the call never reached {what}")
    finally:
        await nc.close()
