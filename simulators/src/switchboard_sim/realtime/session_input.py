"""The caller's audio: ``input_audio_buffer.append``, ``.commit`` and ``.clear``, and the
server VAD's turns, which commit the caller's item and may start or cancel a response.

The session's hot path, with rules of its own (echo mode, the minimum commit), so it is kept
apart from the conversation items and the reply policy. Import from :mod:`.session`, the
public face.
"""

from __future__ import annotations

import base64
import binascii

from openai.types.realtime import InputAudioBufferAppendEvent
from pydantic import BaseModel

from .script import placeholder_transcript
from .session_core import InputBuffer, PendingUser, SessionCore
from .vad import VadEvent

MIN_COMMIT_MS = 100


class InputAudioEvents(SessionCore):
    """The ``input_audio_buffer.*`` handlers and the VAD turns (a base of the session)."""

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
        self._buffer = InputBuffer()
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
        self._buffer = InputBuffer()
        if self._vad is not None:
            self._vad.reset_buffer()
        await self.send(self.factory.cleared())
