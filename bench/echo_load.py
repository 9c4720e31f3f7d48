"""A lean Twilio stand-in for load: many media streams in one process, each frame tagged so its
echo can be matched.

The Realtime simulator runs in echo mode: every caller frame comes back as an agent audio
delta. A frame therefore crosses gateway → NATS → agent → simulator → agent → NATS → gateway,
and the time from sending it to receiving its echo is the latency the system adds (the
simulator's own share included). Calls are spread evenly over the 20 ms frame period, as real
calls are, instead of all ticking at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from switchboard_sim.call import parse_twiml, twilio_signature
from switchboard_sim.call.twiml import ConnectStream

from .procstat import Sample, sample

FRAME_S = 0.020
MAGIC = b"SBtg"
_TAG = struct.Struct(">4sI")
_FILL = b"\xff" * (160 - _TAG.size)


@dataclass
class EchoCall:
    index: int
    ws: ClientConnection
    stream_sid: str
    sent_at: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    echoed: int = 0
    measure_from: int = 0  # frames before this index are warm-up
    sent_measured: int = 0
    all_echoed: asyncio.Event = field(default_factory=asyncio.Event)

    def frame(self, n: int) -> str:
        payload = base64.b64encode(_TAG.pack(MAGIC, n) + _FILL).decode()
        return (
            f'{{"event":"media","sequenceNumber":"{n + 3}","streamSid":"{self.stream_sid}",'
            f'"media":{{"track":"inbound","chunk":"{n + 1}","timestamp":"{n * 20}",'
            f'"payload":"{payload}"}}}}'
        )

    async def read(self) -> None:
        async for raw in self.ws:
            now = time.perf_counter()
            msg = orjson.loads(raw)
            event = msg.get("event")
            if event == "media":
                audio = base64.b64decode(msg["media"]["payload"])
                if len(audio) >= _TAG.size:
                    magic, n = _TAG.unpack_from(audio)
                    if magic == MAGIC and n < len(self.sent_at):
                        self.echoed += 1
                        if self.echoed == len(self.sent_at):
                            self.all_echoed.set()
                        if n >= self.measure_from:
                            self.latencies_ms.append((now - self.sent_at[n]) * 1000.0)
            elif event == "mark":  # played at once: this client does not pace playback
                await self.ws.send(
                    f'{{"event":"mark","streamSid":"{self.stream_sid}",'
                    f'"mark":{{"name":"{msg["mark"]["name"]}"}}}}'
                )


async def place_call(
    http: httpx.AsyncClient, gateway_url: str, public_base_url: str, token: str, index: int
) -> EchoCall:
    call_sid = "CA" + secrets.token_hex(16)
    params = {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+1555",
        "To": "+15550100",
    }
    signature = twilio_signature(token, f"{public_base_url}/twilio/voice", params)
    response = await http.post(
        f"{gateway_url}/twilio/voice", data=params, headers={"X-Twilio-Signature": signature}
    )
    response.raise_for_status()
    connect_verb = parse_twiml(response.text)[0]
    if not isinstance(connect_verb, ConnectStream):
        raise RuntimeError(f"call {index} was refused: {response.text}")
    local = connect_verb.url.replace(public_base_url.replace("https://", "wss://"), "")
    ws_url = gateway_url.replace("http://", "ws://") + local
    ws = await connect(
        ws_url,
        additional_headers={"X-Twilio-Signature": twilio_signature(token, connect_verb.url)},
        compression=None,
    )
    stream_sid = "MZ" + secrets.token_hex(16)
    await ws.send(orjson.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": stream_sid,
        "start": {
            "accountSid": params["AccountSid"],
            "streamSid": stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": connect_verb.parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    await ws.send(orjson.dumps(start).decode())
    return EchoCall(index, ws, stream_sid)


async def stream_frames(
    calls: list[EchoCall], warmup_s: float, seconds: float, on_measure: Callable[[], None]
) -> None:
    """Send one frame per call per 20 ms, calls spread across the period: ``warmup_s`` first
    (not measured), then ``on_measure()``, then ``seconds`` measured."""
    slots = 10
    groups = [calls[i::slots] for i in range(slots)]
    warm_frames = int(warmup_s / FRAME_S)
    total_frames = warm_frames + int(seconds / FRAME_S)
    for call in calls:
        call.sent_at = [0.0] * total_frames
        call.measure_from = warm_frames
    start = time.perf_counter() + 0.05
    for n in range(total_frames):
        if n == warm_frames:
            on_measure()
        for slot, group in enumerate(groups):
            due = start + n * FRAME_S + slot * FRAME_S / slots
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            for call in group:
                text = call.frame(n)
                call.sent_at[n] = time.perf_counter()
                await call.ws.send(text)
                if n >= warm_frames:
                    call.sent_measured += 1


@dataclass
class LoadRun:
    """CPU and memory of each process before and after the measured part of a run."""

    before: dict[str, Sample]
    after: dict[str, Sample]
    elapsed_s: float

    def cpu_pct_core(self, name: str) -> float:
        return 100.0 * (self.after[name].cpu_s - self.before[name].cpu_s) / self.elapsed_s


async def run_load(
    calls: list[EchoCall], pids: dict[str, int], warmup_s: float, seconds: float
) -> LoadRun:
    """Stream the calls' frames (:func:`stream_frames`), sampling ``pids`` around the measured
    part, then let the last echoes arrive (bounded) and hang every call up."""
    readers = [asyncio.create_task(call.read()) for call in calls]
    before: dict[str, Sample] = {}
    marks: list[float] = []

    def measure_from_now() -> None:
        before.update({name: sample(pid) for name, pid in pids.items()})
        marks.append(time.perf_counter())

    await stream_frames(calls, warmup_s, seconds, measure_from_now)
    elapsed = time.perf_counter() - marks[0]
    after = {name: sample(pid) for name, pid in pids.items()}
    waits = [asyncio.ensure_future(c.all_echoed.wait()) for c in calls]
    await asyncio.wait(waits, timeout=2.0)
    for wait in waits:
        wait.cancel()
    for call in calls:
        with contextlib.suppress(Exception):
            await call.ws.close()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    return LoadRun(before, after, elapsed)
