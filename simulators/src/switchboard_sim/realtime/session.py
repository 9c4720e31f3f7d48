"""Per-connection protocol state machine of the simulated Realtime API (GA).

Transport-agnostic: the server feeds raw client frames to :meth:`RealtimeSession.handle`
and the session answers through an async ``send`` callback. Responses run as a
task paced against the audio timeline so that cancels can land mid-response.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from openai.types.realtime import (
    ConversationItemCreateEvent,
    ConversationItemDeleteEvent,
    ConversationItemRetrieveEvent,
    ConversationItemTruncateEvent,
    InputAudioBufferAppendEvent,
    RealtimeResponseCreateParams,
    ResponseCancelEvent,
    ResponseCreateEvent,
    SessionUpdateEvent,
)
from openai.types.realtime.conversation_item import ConversationItem
from pydantic import BaseModel, ValidationError

from .audio import AudioFormat
from .events import CLIENT_EVENT_ADAPTER, CLIENT_EVENT_TYPES, EventFactory, encode
from .record import SessionRecord
from .responder import (
    ActiveResponse,
    CancelReason,
    Plan,
    PlannedOutput,
    ResponseRunner,
    assistant_item,
)
from .script import Script, Turn, fill_template, placeholder_transcript, say_exactly
from .vad import EnergyVad, VadConfig, VadEvent
from .voice import VoiceSynth

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]

MIN_COMMIT_MS = 100
DEFAULT_INSTRUCTIONS = "You are a helpful voice assistant (simulated)."
# Keys whose value replaces the previous one on session.update instead of merging.
_REPLACE_KEYS = frozenset(
    {
        "turn_detection",
        "format",
        "transcription",
        "noise_reduction",
        "tools",
        "tool_choice",
        "tracing",
        "truncation",
        "prompt",
        "voice",
        "include",
    }
)


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
class _Buffer:
    bytes: int = 0
    speech_item_id: str | None = None
    speech_start_ms: int = 0


def default_session(session_id: str, model: str) -> dict[str, Any]:
    vad = {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
        "idle_timeout_ms": None,
    }
    pcm = {"type": "audio/pcm", "rate": 24000}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": int(time.time()) + 3600,
        "audio": {
            "input": {
                "format": dict(pcm),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": vad,
            },
            "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
        },
    }


def merge_session(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Apply a partial ``session.update`` the way the API does (only given fields change)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in _REPLACE_KEYS:
            out[key] = merge_session(out[key], value)
        else:
            out[key] = value
    return out


class RealtimeSession:
    """One simulated Realtime conversation."""

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
        self._buffer = _Buffer()
        self._vad: EnergyVad | None = None
        self._segments = 0
        self._pending_user: PendingUser | None = None
        self._tool_calls: dict[str, Turn | None] = {}
        self._tool_outputs: list[tuple[str, str]] = []
        self._audio_sent = False
        self._runner = ResponseRunner(self, voice)
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

    # -- client events -----------------------------------------------------------
    async def handle(self, raw: str | bytes) -> None:
        try:
            event = CLIENT_EVENT_ADAPTER.validate_json(raw)
        except ValidationError as exc:
            await self._reject(raw, exc)
            return
        if isinstance(event, InputAudioBufferAppendEvent):
            self.record.note_append(len(event.audio))
            await self._on_append(event)
            return
        self.record.note_control(event.type, event.model_dump(mode="json", exclude_unset=True))
        handler = self._handlers.get(event.type)
        if handler is None:
            await self.error(
                "unsupported_event",
                f"'{event.type}' is only supported over WebRTC or SIP.",
                param="type",
                event_id=event.event_id,
            )
            return
        await handler(self, event)

    async def _reject(self, raw: str | bytes, exc: ValidationError) -> None:
        try:
            data: Any = json.loads(raw)
        except ValueError:
            data = None
        obj = data if isinstance(data, dict) else {}
        event_id = obj.get("event_id") if isinstance(obj.get("event_id"), str) else None
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        self.record.note_invalid(obj.get("type"), text)
        code, message, param = describe_validation_error(exc, obj, data is not None)
        await self.error(code, message, param=param, event_id=event_id)

    async def _on_append(self, event: InputAudioBufferAppendEvent) -> None:
        try:
            audio = base64.b64decode(event.audio, validate=True)
        except (binascii.Error, ValueError):
            await self.error(
                "invalid_value",
                "Invalid 'audio'. Expected base64-encoded audio bytes.",
                param="audio",
                event_id=event.event_id,
            )
            return
        if self.cfg.echo:
            resp_id, item_id = self._echo_ids
            await self.send(self.factory.audio_delta(resp_id, item_id, 0, event.audio))
            return
        self._buffer.bytes += len(audio)
        if self._vad is not None:
            for vad_event in self._vad.feed(audio):
                await self._on_vad(vad_event)

    async def _on_vad(self, ev: VadEvent) -> None:
        td = self.turn_detection or {}
        if ev.kind == "speech_started":
            item_id = self.factory.new_id("item")
            self._buffer.speech_item_id = item_id
            self._buffer.speech_start_ms = ev.audio_ms
            await self.send(self.factory.speech_started(ev.audio_ms, item_id))
            if td.get("interrupt_response", True) and self.active is not None:
                await self.cancel_active("turn_detected")
            return
        item_id = self._buffer.speech_item_id or self.factory.new_id("item")
        await self.send(self.factory.speech_stopped(ev.audio_ms, item_id))
        await self._commit(item_id, ev.audio_ms - self._buffer.speech_start_ms)
        # Like the API, an automatic response is skipped (not an error) while one is running.
        if td.get("create_response", True) and self.active is None:
            await self._runner.start(None)

    async def _commit(self, item_id: str, duration_ms: int) -> None:
        from openai.types.realtime import RealtimeConversationItemUserMessage as UserMessage
        from openai.types.realtime.realtime_conversation_item_user_message import Content

        self._segments += 1
        turn = self.script.turn(self._segments - 1)
        transcript = turn.caller if turn else placeholder_transcript(self._segments, duration_ms)
        item = UserMessage(
            id=item_id,
            object="realtime.item",
            type="message",
            role="user",
            status="completed",
            content=[Content(type="input_audio", transcript=None)],
        )
        previous = self.last_item_id()
        await self.send(self.factory.committed(item_id, previous))
        self.add_item(item)
        await self.send(self.factory.item_added(item, previous))
        await self.send(self.factory.item_done(item, previous))
        if self.session["audio"]["input"].get("transcription"):
            await self.send(self.factory.transcription_completed(item_id, transcript, duration_ms))
        self._pending_user = PendingUser(transcript, turn)
        self.record.note_transcript(item_id, transcript)
        self._buffer = _Buffer()
        if self._vad is not None:
            self._vad.reset_buffer()

    async def _on_commit(self, event: BaseModel) -> None:
        buffered_ms = self._buffer.bytes // max(1, self.input_format.bytes_per_ms)
        if buffered_ms < MIN_COMMIT_MS:
            await self.error(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered_ms:.2f}ms of audio.",
                event_id=getattr(event, "event_id", None),
            )
            return
        item_id = self._buffer.speech_item_id or self.factory.new_id("item")
        await self._commit(item_id, buffered_ms)

    async def _on_clear(self, event: BaseModel) -> None:
        self._buffer = _Buffer()
        if self._vad is not None:
            self._vad.reset_buffer()
        await self.send(self.factory.cleared())

    async def _on_session_update(self, event: SessionUpdateEvent) -> None:
        update = event.session.model_dump(mode="json", exclude_unset=True)
        if update.get("type") != "realtime":
            await self.error(
                "invalid_value",
                "Cannot change the session type; this simulator serves 'realtime' sessions.",
                param="session.type",
                event_id=event.event_id,
            )
            return
        new_voice = update.get("audio", {}).get("output", {}).get("voice")
        old_voice = self.session["audio"]["output"].get("voice")
        if new_voice is not None and new_voice != old_voice and self._audio_sent:
            await self.error(
                "cannot_update_voice",
                "Cannot update a conversation's voice if assistant audio is present.",
                param="session.audio.output.voice",
                event_id=event.event_id,
            )
            return
        self.session = merge_session(self.session, update)
        self._rebuild_vad()
        await self.send(self.factory.session_updated(self.session))

    async def _on_response_create(self, event: ResponseCreateEvent) -> None:
        await self._runner.start(event.response, event_id=event.event_id)

    async def _on_response_cancel(self, event: ResponseCancelEvent) -> None:
        active = self.active
        if active is None or (event.response_id and event.response_id != active.id):
            await self.error(
                "response_cancel_not_active",
                "Cancellation failed: no active response found.",
                event_id=event.event_id,
            )
            return
        await self.cancel_active("client_cancelled")

    async def cancel_active(self, reason: CancelReason) -> None:
        active = self.active
        if active is None:
            return
        active.cancel(reason)
        await asyncio.shield(active.task)

    async def _on_item_create(self, event: ConversationItemCreateEvent) -> None:
        item = event.item
        item_id = item.id or self.factory.new_id("item")
        if item_id in self.items:
            await self.error(
                "invalid_value",
                f"Item with id '{item_id}' already exists in the conversation.",
                param="item.id",
                event_id=event.event_id,
            )
            return
        if item.type == "function_call_output" and not self._known_call(item.call_id):
            await self.error(
                "invalid_value",
                f"Tool call ID '{item.call_id}' not found in conversation.",
                param="item.call_id",
                event_id=event.event_id,
            )
            return
        stored = item.model_copy(
            update={"id": item_id, "object": "realtime.item", "status": "completed"}
        )
        previous = self.add_item(stored)
        if stored.type == "function_call_output":
            self._tool_outputs.append((stored.call_id, stored.output))
        elif stored.type == "function_call":
            # A call the client replays (a resumed conversation) answers the scripted turn
            # it belongs to, as a model's own call would.
            pending = self._pending_user
            turn = pending.turn if pending else None
            if turn is not None and turn.tool is not None and turn.tool.name == stored.name:
                self._pending_user = None
                self._tool_calls[stored.call_id or ""] = turn
        elif stored.type == "message" and stored.role == "user":
            text = " ".join(c.text or c.transcript or "" for c in stored.content).strip()
            self._pending_user = PendingUser(text, self.script.turn_for_text(text))
            self._tool_outputs.clear()  # the conversation moved on past those results
        await self.send(self.factory.item_added(stored, previous))
        await self.send(self.factory.item_done(stored, previous))

    def _known_call(self, call_id: str) -> bool:
        return call_id in self._tool_calls or any(
            s.item.type == "function_call" and s.item.call_id == call_id
            for s in self.items.values()
        )

    async def _on_item_delete(self, event: ConversationItemDeleteEvent) -> None:
        if self.items.pop(event.item_id, None) is None:
            await self._item_not_found(event.item_id, event.event_id)
            return
        await self.send(self.factory.item_deleted(event.item_id))

    async def _on_item_retrieve(self, event: ConversationItemRetrieveEvent) -> None:
        state = self.items.get(event.item_id)
        if state is None:
            await self._item_not_found(event.item_id, event.event_id)
            return
        await self.send(self.factory.item_retrieved(state.item))

    async def _item_not_found(self, item_id: str, event_id: str | None) -> None:
        await self.error(
            "item_not_found",
            f"Item with item_id not found: {item_id}",
            param="item_id",
            event_id=event_id,
        )

    async def _on_truncate(self, event: ConversationItemTruncateEvent) -> None:
        state = self.items.get(event.item_id)
        eid = event.event_id
        if state is None:
            await self.error(
                "item_truncate_invalid_item_id",
                f"Item with item_id not found: {event.item_id}",
                param="item_id",
                event_id=eid,
            )
            return
        item = state.item
        is_audio = item.type == "message" and item.role == "assistant" and state.audio_ms > 0
        if not is_audio:
            await self.error(
                "unsupported_content_type",
                "Only model output audio messages can be truncated",
                param="item_id",
                event_id=eid,
            )
        elif event.content_index != 0:
            await self.error(
                "invalid_value",
                f"Invalid content_index {event.content_index}: the item has 1 content part.",
                param="content_index",
                event_id=eid,
            )
        elif event.audio_end_ms < 0 or event.audio_end_ms > state.audio_ms:
            await self.error(
                "invalid_value",
                f"Audio content of {state.audio_ms}ms is already shorter than "
                f"{event.audio_end_ms}ms",
                param="audio_end_ms",
                event_id=eid,
            )
        else:
            state.audio_ms = event.audio_end_ms
            if item.type == "message" and item.role == "assistant":
                # Like the API, drop the transcript: the caller never heard the rest.
                state.item = assistant_item(
                    item.id or "", item.status or "completed", "output_audio"
                )
            await self.send(
                self.factory.item_truncated(event.item_id, event.content_index, event.audio_end_ms)
            )

    # -- reply policy ----------------------------------------------------------
    def plan(self, params: RealtimeResponseCreateParams | None) -> Plan:
        """Decide what the next response says or calls (see script.py)."""
        exact = say_exactly(params.instructions if params else None)
        if exact:
            return Plan([PlannedOutput.speak(exact)])
        if self._tool_outputs:
            call_id, output = self._tool_outputs[-1]
            self._tool_outputs.clear()
            turn = self._tool_calls.get(call_id)
            template = (turn.agent_after_tool if turn else None) or self.script.after_tool_reply
            return Plan([PlannedOutput.speak(fill_template(template, output))])
        pending, self._pending_user = self._pending_user, None
        turn = pending.turn if pending else None
        if turn is None:
            return Plan([PlannedOutput.speak(self.script.default_reply)])
        if turn.tool is None:
            return Plan([PlannedOutput.speak(turn.agent or self.script.default_reply)])
        if not self._tool_available(turn.tool.name, params):
            return Plan([PlannedOutput.speak(turn.agent or self.script.tool_unavailable_reply)])
        outputs = [PlannedOutput.speak(turn.agent)] if turn.agent else []
        outputs.append(PlannedOutput.call(turn.tool.name, turn.tool.arguments, turn))
        return Plan(outputs)

    def _tool_available(self, name: str, params: RealtimeResponseCreateParams | None) -> bool:
        tools: list[Any] = self.session.get("tools") or []
        choice: Any = self.session.get("tool_choice")
        if params is not None and params.tools is not None:
            tools = [t.model_dump(mode="json") for t in params.tools]
        if params is not None and params.tool_choice is not None:
            choice = params.tool_choice
        if choice == "none":
            return False
        return any(t.get("type", "function") == "function" and t.get("name") == name for t in tools)

    def register_call(self, call_id: str, turn: Turn | None) -> None:
        self._tool_calls[call_id] = turn

    _handlers: dict[str, Callable[[RealtimeSession, Any], Awaitable[None]]] = {
        "session.update": _on_session_update,
        "input_audio_buffer.commit": _on_commit,
        "input_audio_buffer.clear": _on_clear,
        "response.create": _on_response_create,
        "response.cancel": _on_response_cancel,
        "conversation.item.create": _on_item_create,
        "conversation.item.delete": _on_item_delete,
        "conversation.item.retrieve": _on_item_retrieve,
        "conversation.item.truncate": _on_truncate,
    }


def describe_validation_error(
    exc: ValidationError, obj: dict[str, Any], parsed: bool
) -> tuple[str, str, str | None]:
    """Map a pydantic error to OpenAI's (code, message, param) style."""
    if not parsed:
        return "invalid_json", "We could not parse the JSON body of your request.", None
    if not obj:
        return "invalid_type", "Invalid event: expected a JSON object.", None
    first = exc.errors()[0]
    kind = first["type"]
    if kind in ("union_tag_not_found",) or "type" not in obj:
        return "missing_required_parameter", "Missing required parameter: 'type'.", "type"
    if kind == "union_tag_invalid":
        supported = ", ".join(f"'{t}'" for t in CLIENT_EVENT_TYPES)
        return (
            "invalid_value",
            f"Invalid value: '{obj.get('type')}'. Supported values are: {supported}.",
            "type",
        )
    tag = obj.get("type")
    parts = [
        str(p) for p in first["loc"] if p != tag and not (isinstance(p, str) and p[:1].isupper())
    ]
    param = ".".join(parts) or None
    if kind == "missing":
        return "missing_required_parameter", f"Missing required parameter: '{param}'.", param
    return "invalid_value", f"Invalid value for '{param}': {first['msg']}.", param
