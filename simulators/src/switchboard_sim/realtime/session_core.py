"""What every part of a simulated Realtime session shares: its state, sending events and
errors, the formats and VAD its settings imply, its lifecycle, cancelling the active response.

The base class of :class:`~.session.RealtimeSession`; the client events are handled in modules
beside it (:mod:`.session_input`, :mod:`.session_items`, :mod:`.session_reply`) so that each
reads on its own. Import from :mod:`.session`, the public face.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from openai.types.realtime.conversation_item import ConversationItem
from pydantic import BaseModel

from .audio import AudioFormat
from .events import EventFactory, encode
from .record import SessionRecord
from .responder import ActiveResponse, CancelReason, ResponseRunner
from .script import Script, Turn
from .session_defaults import default_session
from .vad import EnergyVad, VadConfig
from .voice import VoiceSynth

if TYPE_CHECKING:
    from .session import RealtimeSession

Send = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class SimConfig:
    """Behaviour knobs shared by all sessions of one simulator."""

    speed: float = 4.0  # audio produced this many times faster than real time; <=0: no pacing
    chunk_ms: int = 50  # audio per response.output_audio.delta
    echo: bool = False
    max_session_s: float | None = None


@dataclass(slots=True)
class ItemState:
    item: ConversationItem
    audio_ms: int = 0  # assistant audio produced (after truncation: kept)


@dataclass(slots=True)
class PendingUser:
    """The latest caller turn that no response has answered yet."""

    text: str
    turn: Turn | None


@dataclass(slots=True)
class InputBuffer:
    bytes: int = 0
    speech_item_id: str | None = None
    speech_start_ms: int = 0


class SessionCore:
    """The state and plumbing under :class:`~.session.RealtimeSession` (its base class)."""

    def __init__(
        self,
        *,
        session_id: str,
        model: str,
        send: Send,
        script: Script,
        voice: VoiceSynth,
        config: SimConfig,
    ) -> None:
        self.id = session_id
        self.cfg = config
        self.script = script
        self.factory = EventFactory(session_id.removeprefix("sess_") + "_")
        self.record = SessionRecord(id=session_id, model=model, echo=config.echo)
        self.session: dict[str, Any] = default_session(session_id, model)
        self.items: dict[str, ItemState] = {}
        self.active: ActiveResponse | None = None
        self.closed = False
        self.ended = asyncio.Event()
        self._send_raw = send
        self._buffer = InputBuffer()
        self._vad: EnergyVad | None = None
        self._segments = 0
        self._pending_user: PendingUser | None = None
        self._tool_calls: dict[str, Turn | None] = {}
        self._tool_outputs: list[tuple[str, str]] = []
        self._audio_sent = False
        # The runner drives the whole session: this is only ever built as a RealtimeSession.
        self._runner = ResponseRunner(cast("RealtimeSession", self), voice)
        self._echo_ids = (
            (self.factory.new_id("resp"), self.factory.new_id("item")) if config.echo else ("", "")
        )
        self._rebuild_vad()

    # -- plumbing ------------------------------------------------------------
    async def send(self, event: BaseModel) -> None:
        kind = getattr(event, "type", "?")
        self.record.note_sent(kind, event)
        if kind == "response.output_audio.delta":
            self._audio_sent = True
        if self.closed:
            return
        data = encode(event)
        try:
            await self._send_raw(data)
        except Exception:
            self.closed = True  # socket gone; the transport will call close()
            raise

    async def error(
        self, code: str, message: str, *, param: str | None = None, event_id: str | None = None
    ) -> None:
        await self.send(self.factory.error(code, message, param=param, event_id=event_id))

    def last_item_id(self) -> str | None:
        return next(reversed(self.items), None) if self.items else None

    def add_item(self, item: ConversationItem) -> str | None:
        """Append an item to the conversation; returns the previous item's id."""
        previous = self.last_item_id()
        assert item.id is not None
        self.items[item.id] = ItemState(item)
        return previous

    @property
    def input_format(self) -> AudioFormat:
        return AudioFormat.from_config(self.session["audio"]["input"].get("format"))

    @property
    def output_format(self) -> AudioFormat:
        return AudioFormat.from_config(self.session["audio"]["output"].get("format"))

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        td: dict[str, Any] | None = self.session["audio"]["input"].get("turn_detection")
        return td

    def _rebuild_vad(self) -> None:
        td = self.turn_detection
        if self.cfg.echo or not td:
            self._vad = None
            return
        defaults = VadConfig()
        vad_cfg = VadConfig(
            threshold=float(td.get("threshold") or defaults.threshold),
            prefix_padding_ms=int(td.get("prefix_padding_ms") or defaults.prefix_padding_ms),
            silence_duration_ms=int(td.get("silence_duration_ms") or defaults.silence_duration_ms),
        )
        old = self._vad
        self._vad = EnergyVad(vad_cfg, self.input_format)
        if old is not None:  # keep the session's audio timeline
            self._vad.position_ms = old.position_ms
            self._vad.buffer_start_ms = old.buffer_start_ms

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        await self.send(self.factory.session_created(self.session))

    async def close(self) -> None:
        """Connection gone: stop any response without emitting further events."""
        self.closed = True
        self.record.close()
        self.ended.set()
        if self.active is not None:
            self.active.task.cancel()

    async def expire(self) -> None:
        """Session max duration reached (the caller closes the socket afterwards)."""
        limit = self.cfg.max_session_s or 0
        await self.send(
            self.factory.error(
                "session_expired",
                f"Your session hit the maximum duration of {limit:g} seconds.",
            )
        )

    async def cancel_active(self, reason: CancelReason) -> None:
        active = self.active
        if active is None:
            return
        active.cancel(reason)
        await asyncio.shield(active.task)
