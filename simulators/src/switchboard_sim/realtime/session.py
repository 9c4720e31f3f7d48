"""Per-connection protocol state machine of the simulated Realtime API (GA).

Transport-agnostic: the server feeds raw client frames to :meth:`RealtimeSession.handle`
and the session answers through an async ``send`` callback. Responses run as a
task paced against the audio timeline so that cancels can land mid-response.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from openai.types.realtime import (
    InputAudioBufferAppendEvent,
    ResponseCancelEvent,
    ResponseCreateEvent,
    SessionUpdateEvent,
)
from pydantic import ValidationError

from .events import CLIENT_EVENT_ADAPTER, CLIENT_EVENT_TYPES
from .session_core import ItemState, PendingUser, Send, SimConfig
from .session_defaults import DEFAULT_INSTRUCTIONS, default_session, merge_session
from .session_input import MIN_COMMIT_MS, InputAudioEvents
from .session_items import ConversationItemEvents
from .session_reply import ReplyPolicy

log = logging.getLogger(__name__)

# The public face: the session and what its importers and tests use, wherever it now lives.
__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "MIN_COMMIT_MS",
    "ItemState",
    "PendingUser",
    "RealtimeSession",
    "Send",
    "SimConfig",
    "default_session",
    "describe_validation_error",
    "merge_session",
]


class RealtimeSession(InputAudioEvents, ConversationItemEvents, ReplyPolicy):
    """One simulated Realtime conversation."""

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

    _handlers: dict[str, Callable[[RealtimeSession, Any], Awaitable[None]]] = {
        "session.update": _on_session_update,
        "input_audio_buffer.commit": InputAudioEvents._on_commit,
        "input_audio_buffer.clear": InputAudioEvents._on_clear,
        "response.create": _on_response_create,
        "response.cancel": _on_response_cancel,
        "conversation.item.create": ConversationItemEvents._on_item_create,
        "conversation.item.delete": ConversationItemEvents._on_item_delete,
        "conversation.item.retrieve": ConversationItemEvents._on_item_retrieve,
        "conversation.item.truncate": ConversationItemEvents._on_truncate,
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
