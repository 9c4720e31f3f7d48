"""Twilio Media Streams, Twilio's side: the client that dials the gateway's websocket.

One task (the *tick*) is the call's media clock: every 20 ms, on a monotonic schedule so delays do
not accumulate, it sends one inbound frame (caller speech or μ-law silence, as Twilio streams
continuously) and plays 160 bytes of the agent audio buffered from the gateway, echoing a ``mark``
once playback passes it. A second task reads the gateway's ``media``/``mark``/``clear``.
Base64 and JSON framing of the hot path are plain string work; no per-frame models.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from switchboard_common.audio import BYTES_PER_MS, FRAME_BYTES, FRAME_MS

from .audio import SILENCE_FRAME, SILENCE_FRAME_B64, Utterance
from .signing import SIGNATURE_HEADER, new_sid, twilio_signature

LogFn = Callable[[str], None]


class StreamClosed(Exception):
    """The websocket closed while something was waiting on the stream."""


class CallClock:
    """Seconds of *call time* since the call began; ``speed`` > 1 runs the whole call faster
    (pacing, playback and every wait), so a benchmark can compress calls consistently."""

    __slots__ = ("speed", "t0")

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.t0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self.t0) * self.speed

    async def sleep(self, call_seconds: float) -> None:
        if call_seconds > 0:
            await asyncio.sleep(call_seconds / self.speed)

    def wall(self, call_seconds: float) -> float:
        """Wall-clock seconds a span of call time takes."""
        return call_seconds / self.speed


@dataclass(frozen=True, slots=True)
class TurnLatency:
    """End of caller speech → first agent media received after it."""

    turn: int
    speech_end_s: float
    latency_ms: float


@dataclass(slots=True)
class _Waiter:
    predicate: Callable[[], bool]
    future: asyncio.Future[None]


class TwilioMediaStream:
    """One bidirectional Media Stream as Twilio runs it. Use :meth:`open`, then :meth:`begin`.

    The low-level senders (:meth:`send_raw`, :meth:`send_media`, …) exist so tests can also
    misbehave on purpose.
    """

    def __init__(
        self,
        ws: ClientConnection,
        *,
        account_sid: str,
        call_sid: str,
        stream_sid: str | None = None,
        custom_parameters: dict[str, str] | None = None,
        clock: CallClock | None = None,
        record: bool = False,
        log: LogFn | None = None,
    ) -> None:
        self.ws = ws
        self.account_sid = account_sid
        self.call_sid = call_sid
        self.stream_sid = stream_sid or new_sid("MZ")
        self.custom_parameters = dict(custom_parameters or {})
        self.clock = clock or CallClock()
        self._log = log
        self._seq = 0
        self._chunk = 0
        self._stream_t0 = 0.0
        # Inbound speech being sent.
        self._utterance: Utterance | None = None
        self._utt_pos = 0
        self._utt_turn = 0
        self._utt_done: asyncio.Future[float] | None = None
        self.speaking_since = -1.0
        # Outbound playback: bytearray + read offset; positions are absolute byte counts.
        self._buf = bytearray()
        self._pos = 0
        self._queued_total = 0
        self._played_total = 0
        self._marks: deque[tuple[int, str]] = deque()
        self._playing = False
        self.recording: bytearray | None = bytearray() if record else None
        # Observations.
        self.agent_bytes_received = 0
        self.agent_bytes_played = 0
        self.agent_bytes_dropped = 0
        self.agent_media_messages = 0
        self.caller_frames_sent = 0
        self.last_media_at = -1.0
        self.first_media_at = -1.0
        self.play_started_at = -1.0
        self.play_end_at = -1.0
        self.marks_received: list[str] = []
        self.marks_echoed: list[str] = []
        self.clears: list[float] = []
        #: ms of the current reply the caller had heard when each clear arrived (a frame
        #: counts once it starts playing, so this may run up to one frame ahead).
        self.played_ms_at_clears: list[float] = []
        self._reply_played = 0
        self.latencies: list[TurnLatency] = []
        #: Dead air inside the agent's replies: (turn, seconds) for each time playback ran dry
        #: and more of the agent's audio came before the caller spoke again (turn 0: the
        #: greeting). Pauses for a tool call count too; a stalled bus shows as extra.
        self.playback_stalls: list[tuple[int, float]] = []
        self._dry_since = -1.0
        self._reply_turn = 0
        self.errors: list[str] = []
        self.events: list[dict[str, Any]] = []  # every non-media message from the gateway
        self._latency_probe: tuple[int, float] | None = None
        self.on_latency: Callable[[TurnLatency], None] | None = None
        self._waiters: list[_Waiter] = []
        self._clear_pending = False
        self._event_waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[Any]]] = []
        self.closed_by_caller = False
        self.close_code: int | None = None
        self.close_reason = ""
        #: When ``start`` was sent and when the websocket closed (call clock), -1 until then.
        self.started_at = -1.0
        self.closed_at = -1.0
        self._closed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        auth_token: str,
        signed_url: str | None = None,
        account_sid: str,
        call_sid: str,
        stream_sid: str | None = None,
        custom_parameters: dict[str, str] | None = None,
        clock: CallClock | None = None,
        record: bool = False,
        log: LogFn | None = None,
        open_timeout: float = 10.0,
    ) -> TwilioMediaStream:
        """Dial ``url``, signing ``signed_url`` (the public wss:// URL from the TwiML) as Twilio
        does: ``X-Twilio-Signature`` over the URL with no params. Raises websockets'
        ``InvalidStatus`` if the gateway refuses the upgrade."""
        signature = twilio_signature(auth_token, signed_url or url)
        ws = await connect(
            url,
            additional_headers={SIGNATURE_HEADER: signature},
            open_timeout=open_timeout,
            compression=None,
            max_size=2**22,
        )
        self = cls(
            ws,
            account_sid=account_sid,
            call_sid=call_sid,
            stream_sid=stream_sid,
            custom_parameters=custom_parameters,
            clock=clock,
            record=record,
            log=log,
        )
        self._reader = asyncio.create_task(self._read_loop(), name=f"twilio-read-{call_sid}")
        return self

    async def begin(self) -> None:
        """Send ``connected`` and ``start``, then stream media at real time until closed."""
        await self.send_connected()
        await self.send_start()
        self.started_at = self.clock.now()
        self._ticker = asyncio.create_task(self._tick_loop(), name=f"twilio-tick-{self.call_sid}")

    async def hang_up(self) -> None:
        """The caller hangs up: ``stop``, then close the websocket (normal closure)."""
        self.closed_by_caller = True
        await self._stop_ticking()
        with contextlib.suppress(ConnectionClosed):
            await self.send_stop()
        await self.ws.close()
        await self.wait_closed()

    async def aclose(self) -> None:
        """Tear down without protocol niceties (used after errors)."""
        self.closed_by_caller = self.closed_by_caller or not self._closed.is_set()
        await self._stop_ticking()
        await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def wait_closed(self, within: float | None = None) -> None:
        """Until the websocket is closed (by either side); ``within`` wall seconds or raise
        ``TimeoutError``."""
        async with asyncio.timeout(within):
            await self._closed.wait()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def _stop_ticking(self) -> None:
        if self._ticker is not None and not self._ticker.done():
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)

    # --- sending -----------------------------------------------------------------------------

    def _next_seq(self) -> int:
        # websockets writes an unfragmented message before its first await, so numbering right
        # before ``send`` keeps sequence numbers in wire order without a lock.
        self._seq += 1
        return self._seq

    async def send_raw(self, text: str) -> None:
        """Send any text frame as is (malformed JSON, wrong fields…)."""
        await self.ws.send(text)

    async def send_connected(self) -> None:
        await self.ws.send('{"event":"connected","protocol":"Call","version":"1.0.0"}')

    async def send_start(self) -> None:
        start = {
            "event": "start",
            "sequenceNumber": str(self._next_seq()),
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "customParameters": self.custom_parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
            "streamSid": self.stream_sid,
        }
        self._stream_t0 = self.clock.now()
        await self.ws.send(json.dumps(start, separators=(",", ":")))

    async def send_media(self, ulaw: bytes, *, timestamp_ms: int | None = None) -> None:
        """One inbound ``media`` message outside the paced loop."""
        payload = base64.b64encode(ulaw).decode("ascii")
        if timestamp_ms is None:
            timestamp_ms = int((self.clock.now() - self._stream_t0) * 1000)
        await self._send_media_b64(payload, timestamp_ms)

    async def _send_media_b64(self, payload: str, timestamp_ms: int) -> None:
        self._chunk += 1
        await self.ws.send(
            f'{{"event":"media","sequenceNumber":"{self._next_seq()}","media":{{"track":"inbound",'
            f'"chunk":"{self._chunk}","timestamp":"{timestamp_ms}","payload":"{payload}"}},'
            f'"streamSid":"{self.stream_sid}"}}'
        )

    async def send_dtmf(self, digit: str) -> None:
        msg = {
            "event": "dtmf",
            "streamSid": self.stream_sid,
            "sequenceNumber": str(self._next_seq()),
            "dtmf": {"track": "inbound_track", "digit": digit},
        }
        await self.ws.send(json.dumps(msg, separators=(",", ":")))

    async def send_stop(self) -> None:
        msg = {
            "event": "stop",
            "sequenceNumber": str(self._next_seq()),
            "streamSid": self.stream_sid,
            "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
        }
        await self.ws.send(json.dumps(msg, separators=(",", ":")))

    async def _send_mark(self, name: str) -> None:
        msg = {
            "event": "mark",
            "sequenceNumber": str(self._next_seq()),
            "streamSid": self.stream_sid,
            "mark": {"name": name},
        }
        await self.ws.send(json.dumps(msg, separators=(",", ":")))
        self.marks_echoed.append(name)

    def speak(self, utterance: Utterance, turn: int = 0) -> asyncio.Future[float]:
        """Queue caller speech on the paced stream; resolves with the call time its last
        non-silent frame went out (the end of speech, also armed as the latency probe)."""
        if self._utterance is not None:
            raise RuntimeError("the caller is already speaking")
        self._utterance = utterance
        self._utt_pos = 0
        self._utt_turn = turn
        self._dry_since = -1.0  # what the agent says next answers this
        self._reply_turn = turn
        self._utt_done = asyncio.get_running_loop().create_future()
        return self._utt_done

    # --- the media clock -------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        period = FRAME_MS / 1000 / self.clock.speed
        start = time.monotonic()
        n = 0
        try:
            while True:
                delay = start + n * period - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = self.clock.now()
                self._play_frame(now)
                await self._send_frame(n, now)
                while self._marks and self._marks[0][0] <= self._played_total:
                    await self._send_mark(self._marks.popleft()[1])
                if self._waiters:
                    self._check_waiters()
                n += 1
        except ConnectionClosed:
            pass
        except Exception as exc:  # a bug here must end the call, not leave waiters hanging
            self.errors.append(f"media loop failed: {exc!r}")
            await self.ws.close(1011, "simulator error")

    async def _send_frame(self, n: int, now: float) -> None:
        utt = self._utterance
        if utt is None:
            await self._send_media_b64(SILENCE_FRAME_B64, n * FRAME_MS)
            self.caller_frames_sent += 1
            return
        i = self._utt_pos
        if i == 0:
            self.speaking_since = now
        await self._send_media_b64(utt.frames_b64[i], n * FRAME_MS)
        self.caller_frames_sent += 1
        self._utt_pos = i + 1
        if i == utt.speech_end:
            end = self.clock.now()
            self._latency_probe = (self._utt_turn, end)
            if self._utt_done is not None and not self._utt_done.done():
                self._utt_done.set_result(end)
        if self._utt_pos >= len(utt.frames_b64):
            self._utterance = None

    def _play_frame(self, now: float) -> None:
        avail = len(self._buf) - self._pos
        rec = self.recording
        if avail <= 0:
            if self._playing:
                self._playing = False
                self._dry_since = now
            if rec is not None:
                rec += SILENCE_FRAME
            return
        take = FRAME_BYTES if avail >= FRAME_BYTES else avail
        if not self._playing:
            self._playing = True
            self.play_started_at = now
            self._reply_played = 0
        if rec is not None:
            rec += self._buf[self._pos : self._pos + take]
            if take < FRAME_BYTES:
                rec += SILENCE_FRAME[take:]
        self._pos += take
        self._played_total += take
        self._reply_played += take
        self.agent_bytes_played += take
        self.play_end_at = now + take / BYTES_PER_MS / 1000
        if self._pos >= 65536 and self._pos * 2 >= len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0

    # --- receiving ---------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            async for raw in self.ws:
                self._on_message(raw)
                if self._clear_pending:
                    await self._answer_clear()
        except ConnectionClosed:
            pass
        finally:
            self.closed_at = self.clock.now()
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason or ""
            self._closed.set()
            exc = StreamClosed(f"stream closed (code {self.close_code})")
            for w in self._waiters:
                if not w.future.done():
                    w.future.set_exception(exc)
            for _, fut in self._event_waiters:
                if not fut.done():
                    fut.set_exception(exc)
            if self._utt_done is not None and not self._utt_done.done():
                self._utt_done.set_exception(exc)
            self._waiters.clear()
            self._event_waiters.clear()

    def _on_message(self, raw: str | bytes) -> None:
        now = self.clock.now()
        if isinstance(raw, bytes):
            self.errors.append("gateway sent a binary frame (Twilio expects JSON text)")
            return
        try:
            msg = json.loads(raw)
            event = msg["event"]
        except (ValueError, KeyError, TypeError):
            self.errors.append(f"gateway sent a malformed message: {raw[:120]!r}")
            return
        if msg.get("streamSid") != self.stream_sid:
            self.errors.append(
                f"gateway {event!r} with streamSid {msg.get('streamSid')!r}, "
                f"expected {self.stream_sid!r}: ignored"
            )
            return
        if event == "media":
            self._on_media(msg, now)
        else:
            self.events.append(msg)
            if event == "mark":
                try:
                    name = str(msg["mark"]["name"])
                except (KeyError, TypeError):
                    self.errors.append(f"mark without mark.name: {raw[:120]!r}")
                    return
                self.marks_received.append(name)
                self._marks.append((self._queued_total, name))
            elif event == "clear":
                self.clears.append(now)
                self.played_ms_at_clears.append(self._reply_played / BYTES_PER_MS)
                self._clear_pending = True
                if self._log:
                    self._log("clear received (barge-in)")
            else:
                self.errors.append(f"gateway sent unknown event {event!r}")
        if self._event_waiters:
            for pred, fut in list(self._event_waiters):
                if not fut.done() and pred(msg):
                    fut.set_result(msg)
                    self._event_waiters.remove((pred, fut))

    def _on_media(self, msg: dict[str, Any], now: float) -> None:
        try:
            audio = base64.b64decode(msg["media"]["payload"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            self.errors.append("agent media without a valid base64 media.payload")
            return
        if self._dry_since >= 0:
            self.playback_stalls.append((self._reply_turn, now - self._dry_since))
            self._dry_since = -1.0
        self._buf += audio
        self._queued_total += len(audio)
        self.agent_bytes_received += len(audio)
        self.agent_media_messages += 1
        self.last_media_at = now
        if self.first_media_at < 0:
            self.first_media_at = now
        probe = self._latency_probe
        if probe is not None and now >= probe[1]:
            self._latency_probe = None
            lat = TurnLatency(probe[0], probe[1], (now - probe[1]) * 1000)
            self.latencies.append(lat)
            if self.on_latency is not None:
                self.on_latency(lat)

    async def _answer_clear(self) -> None:
        """Twilio drops everything buffered and returns every pending mark at once."""
        self._clear_pending = False
        self._dry_since = -1.0
        self.agent_bytes_dropped += len(self._buf) - self._pos
        self._buf.clear()
        self._pos = 0
        self._queued_total = self._played_total
        while self._marks:
            await self._send_mark(self._marks.popleft()[1])

    # --- waiting -----------------------------------------------------------------------------

    def _check_waiters(self) -> None:
        keep: list[_Waiter] = []
        for w in self._waiters:
            if w.future.done():
                continue
            if w.predicate():
                w.future.set_result(None)
            else:
                keep.append(w)
        self._waiters = keep

    async def wait_until(self, predicate: Callable[[], bool], within: float) -> None:
        """Until ``predicate()`` holds, checked on every 20 ms tick; ``within`` call seconds.
        Raises ``TimeoutError`` or :class:`StreamClosed`."""
        if predicate():
            return
        if self.closed:
            raise StreamClosed(f"stream closed (code {self.close_code})")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(predicate, fut)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.clock.wall(within)):
                await fut
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def next_event(
        self, match: str | Callable[[dict[str, Any]], bool], within: float = 5.0
    ) -> dict[str, Any]:
        """The next gateway message (any event, media included) matching an event name or a
        predicate; ``within`` wall seconds."""
        pred = (lambda m: m.get("event") == match) if isinstance(match, str) else match
        if self.closed:
            raise StreamClosed(f"stream closed (code {self.close_code})")
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        entry = (pred, fut)
        self._event_waiters.append(entry)
        try:
            async with asyncio.timeout(within):
                return await fut
        finally:
            if entry in self._event_waiters:
                self._event_waiters.remove(entry)

    # --- queries the scenario runner polls --------------------------------------------------

    @property
    def speaking(self) -> bool:
        """Whether an utterance (including its trailing silence) is still being sent."""
        return self._utterance is not None

    def arm_latency(self, turn: int, at: float) -> None:
        """Measure the next agent media after call time ``at`` as ``turn``'s latency."""
        self._latency_probe = (turn, at)

    def playback_idle(self) -> bool:
        """Nothing buffered and no mark outstanding."""
        return self._pos >= len(self._buf) and not self._marks

    def agent_quiet_for(self) -> float:
        """Call seconds since the agent last sent or played audio (inf if it never did)."""
        last = max(self.last_media_at, self.play_end_at)
        return float("inf") if last < 0 else self.clock.now() - last

    @property
    def pending_marks(self) -> list[str]:
        return [name for _, name in self._marks]

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf) - self._pos
