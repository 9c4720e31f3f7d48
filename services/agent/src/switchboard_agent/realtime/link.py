"""One Realtime connection, with a lean path for audio.

Control events use the SDK's typed resources and parsed models. Audio is the hot path (50
appends a second per call, and as many deltas back): appends go through the SDK connection's
``send_raw`` with JSON formatted directly (base64 needs no escaping), and incoming audio deltas
are recognised with one orjson parse instead of building the SDK's model for each one.
"""

from __future__ import annotations

import logging
import time
from base64 import b64decode, b64encode
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.realtime import RealtimeServerEvent, RealtimeSessionCreateRequestParam

from .. import metrics

log = logging.getLogger(__name__)

AUDIO_DELTA = "response.output_audio.delta"
#: Malformed server events logged per connection; the rest are only counted.
LOG_MALFORMED_FIRST = 5

Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class AudioDelta:
    """An agent audio chunk, already decoded to μ-law."""

    response_id: str
    item_id: str
    audio: bytes


class RealtimeLink:
    def __init__(self, connection: AsyncRealtimeConnection) -> None:
        self._conn = connection
        self._malformed = 0
        #: When the session was opened (monotonic): the provider's session cap counts from it.
        self.opened_at = time.monotonic()

    @classmethod
    async def open(cls, client: AsyncOpenAI, model: str) -> RealtimeLink:
        return cls(await client.realtime.connect(model=model).enter())

    async def configure(self, session: RealtimeSessionCreateRequestParam) -> None:
        await self._conn.session.update(session=session)

    async def append_audio(self, ulaw: bytes | memoryview) -> None:
        b64 = b64encode(ulaw).decode()
        await self._conn.send_raw(f'{{"type":"input_audio_buffer.append","audio":"{b64}"}}')

    async def next_event(self) -> AudioDelta | RealtimeServerEvent:
        """The next well-formed server event; raises the websocket's ConnectionClosed when it
        ends. A malformed one (not JSON, audio that is not base64) is counted and skipped: the
        call goes on with the next."""
        while True:
            raw = await self._conn.recv_bytes()
            try:
                return self._read(raw)
            except (ValueError, TypeError) as exc:  # JSON, base64 and pydantic errors
                self._malformed += 1
                metrics.REALTIME_MALFORMED.inc()
                if self._malformed <= LOG_MALFORMED_FIRST:
                    log.warning("skipped a malformed Realtime event: %s", exc)

    def _read(self, raw: bytes) -> AudioDelta | RealtimeServerEvent:
        data: Any = orjson.loads(raw)
        if isinstance(data, dict) and data.get("type") == AUDIO_DELTA:
            return AudioDelta(
                str(data.get("response_id", "")),
                str(data.get("item_id", "")),
                b64decode(data.get("delta", ""), validate=True),
            )
        return self._conn.parse_event(raw)

    async def respond(self, instructions: str | None = None) -> None:
        if instructions is None:
            await self._conn.response.create()
        else:
            await self._conn.response.create(response={"instructions": instructions})

    async def say(self, instructions: str, *, metadata: dict[str, str], event_id: str) -> None:
        """A response that only speaks (it may not call tools), tagged with ``metadata`` (echoed
        in its ``response.*`` events) and sent as ``event_id`` (named by an error it causes)."""
        await self._conn.response.create(
            event_id=event_id,
            response={"instructions": instructions, "tool_choice": "none", "metadata": metadata},
        )

    async def cancel_response(self) -> None:
        await self._conn.response.cancel()

    async def truncate(self, item_id: str, audio_end_ms: int) -> None:
        await self._conn.conversation.item.truncate(
            item_id=item_id, content_index=0, audio_end_ms=audio_end_ms
        )

    async def tool_output(self, call_id: str, output: str) -> None:
        await self._conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call_id, "output": output}
        )

    async def add_user_text(self, text: str) -> None:
        """Put something the caller did (not said) into the conversation, e.g. a key press."""
        await self.add_text("user", text)

    async def add_text(self, role: Role, text: str) -> None:
        """A text item in the conversation (also how history is replayed after a reconnect)."""
        if role == "user":
            await self._conn.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                }
            )
        else:
            await self._conn.conversation.item.create(
                item={
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text}],
                }
            )

    async def add_tool_use(self, call_id: str, name: str, arguments: str, output: str) -> None:
        """A tool call and its result, as they were (how a resumed call replays tool use)."""
        await self._conn.conversation.item.create(
            item={"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}
        )
        await self.tool_output(call_id, output)

    async def close(self) -> None:
        await self._conn.close()
