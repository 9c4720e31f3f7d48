"""Shared helpers for the Realtime simulator tests: audio, SDK client, event waits."""

from __future__ import annotations

import asyncio
import base64
import math
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection

from switchboard_sim.realtime.audio import audioop
from switchboard_sim.realtime.events import SERVER_EVENT_ADAPTER
from switchboard_sim.realtime.server import RealtimeSimulator

TIMEOUT = 5.0
FRAME = 160  # 20 ms of 8 kHz μ-law, like Twilio

PCMU_SESSION: dict[str, Any] = {
    "type": "realtime",
    "instructions": "You are the Acme phone agent.",
    "audio": {
        "input": {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": "gpt-4o-transcribe"},
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 200,
                "silence_duration_ms": 300,
                "create_response": True,
                "interrupt_response": True,
            },
        },
        "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
    },
}

BOOK_TABLE_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "book_table",
    "description": "Book a table.",
    "parameters": {
        "type": "object",
        "properties": {"party_size": {"type": "integer"}, "time": {"type": "string"}},
    },
}


def tone_ulaw(ms: int, amplitude: int = 12000, freq: float = 440.0) -> bytes:
    n = 8 * ms
    samples = (int(amplitude * math.sin(2 * math.pi * freq * i / 8000)) for i in range(n))
    return bytes(audioop.lin2ulaw(struct.pack(f"<{n}h", *samples), 2))


def silence_ulaw(ms: int) -> bytes:
    return b"\xff" * (8 * ms)


def utterance(speech_ms: int = 600, silence_ms: int = 500) -> bytes:
    """A loud tone burst followed by silence: one VAD turn."""
    return tone_ulaw(speech_ms) + silence_ulaw(silence_ms)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Events:
    """Reads every server frame, checks it against the SDK's server-event union,
    and lets tests wait for a specific event (with a timeout, never a sleep)."""

    def __init__(self, conn: AsyncRealtimeConnection) -> None:
        self.conn = conn
        self.seen: list[Any] = []

    async def next(self, within: float = TIMEOUT) -> Any:
        raw = await asyncio.wait_for(self.conn.recv_bytes(), within)
        SERVER_EVENT_ADAPTER.validate_json(raw)  # strict: raises if malformed
        event = self.conn.parse_event(raw)
        self.seen.append(event)
        return event

    async def wait_for(
        self,
        kind: str,
        where: Callable[[Any], bool] = lambda e: True,
        within: float = TIMEOUT,
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            event = await self.next(max(0.01, deadline - loop.time()))
            if event.type == kind and where(event):
                return event

    def types(self, *, skip_deltas: bool = True) -> list[str]:
        return [e.type for e in self.seen if not (skip_deltas and e.type.endswith(".delta"))]

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.seen if e.type == kind]


@asynccontextmanager
async def connect(sim: RealtimeSimulator) -> AsyncIterator[tuple[AsyncRealtimeConnection, Events]]:
    client = AsyncOpenAI(api_key="sk-sim", base_url=sim.base_url, max_retries=0)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        events = Events(conn)
        created = await events.wait_for("session.created")
        assert created.session.type == "realtime"
        yield conn, events


async def send_audio(conn: AsyncRealtimeConnection, audio: bytes, frame: int = FRAME) -> None:
    for i in range(0, len(audio), frame):
        await conn.input_audio_buffer.append(audio=b64(audio[i : i + frame]))


async def configure(conn: AsyncRealtimeConnection, events: Events, **overrides: Any) -> Any:
    session = {**PCMU_SESSION, **overrides}
    await conn.session.update(session=session)  # type: ignore[arg-type]
    return await events.wait_for("session.updated")
