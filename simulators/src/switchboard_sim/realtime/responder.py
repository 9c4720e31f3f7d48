"""Runs one assistant response as the GA event sequence.

Audio goes out in fixed-size chunks paced ``speed`` times faster than real time
(the real API also outruns playback); each pause waits on a wake-up event so a
cancel (client ``response.cancel`` or VAD barge-in) takes effect at once and the
final ``*.done`` events describe exactly what was produced.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from openai.types.realtime import (
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCall,
    RealtimeResponse,
    RealtimeResponseCreateParams,
    RealtimeResponseStatus,
    RealtimeResponseUsage,
)
from openai.types.realtime.conversation_item import ConversationItem
from openai.types.realtime.realtime_conversation_item_assistant_message import Content
from openai.types.realtime.realtime_response import Audio
from openai.types.realtime.realtime_response_usage_input_token_details import (
    RealtimeResponseUsageInputTokenDetails,
)
from openai.types.realtime.realtime_response_usage_output_token_details import (
    RealtimeResponseUsageOutputTokenDetails,
)

from .script import Turn
from .voice import SAMPLE_RATE, VoiceSynth

if TYPE_CHECKING:
    from .session import RealtimeSession

log = logging.getLogger(__name__)

ULAW_BYTES_PER_MS = SAMPLE_RATE // 1000
Status = Literal["completed", "cancelled", "in_progress"]
CancelReason = Literal["turn_detected", "client_cancelled"]


@dataclass(slots=True)
class PlannedOutput:
    kind: Literal["speak", "call"]
    text: str = ""
    name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    turn: Turn | None = None

    @classmethod
    def speak(cls, text: str) -> PlannedOutput:
        return cls("speak", text=text)

    @classmethod
    def call(cls, name: str, arguments: dict[str, Any], turn: Turn | None) -> PlannedOutput:
        return cls("call", name=name, arguments=arguments, turn=turn)


@dataclass(slots=True)
class Plan:
    outputs: list[PlannedOutput]


@dataclass(eq=False)
class ActiveResponse:
    id: str
    modalities: list[Literal["text", "audio"]]
    in_conversation: bool
    metadata: dict[str, str] | None = None
    reason: CancelReason | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    output: list[ConversationItem] = field(default_factory=list)
    audio_ms: int = 0
    text_tokens: int = 0
    task: asyncio.Task[None] = field(init=False)

    def cancel(self, reason: CancelReason) -> None:
        if self.reason is None:
            self.reason = reason
        self.wake.set()


def assistant_item(
    item_id: str,
    status: Literal["completed", "incomplete", "in_progress"],
    part: Literal["output_audio", "output_text"] | None = None,
    text: str | None = None,
) -> RealtimeConversationItemAssistantMessage:
    content: list[Content] = []
    if part == "output_audio":
        content = [Content(type=part, transcript=text)]
    elif part == "output_text":
        content = [Content(type=part, text=text)]
    return RealtimeConversationItemAssistantMessage(
        id=item_id,
        object="realtime.item",
        type="message",
        role="assistant",
        status=status,
        content=content,
    )


def _split_words(text: str, n_chunks: int) -> list[list[str]]:
    """Spread transcript words over audio chunks so text roughly tracks speech."""
    words = text.split()
    buckets: list[list[str]] = [[] for _ in range(max(1, n_chunks))]
    for i, word in enumerate(words):
        buckets[i * len(buckets) // max(1, len(words))].append(word)
    return buckets


class ResponseRunner:
    def __init__(self, session: RealtimeSession, voice: VoiceSynth) -> None:
        self.s = session
        self.voice = voice

    async def start(
        self, params: RealtimeResponseCreateParams | None, event_id: str | None = None
    ) -> None:
        s = self.s
        if s.active is not None:
            await s.error(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {s.active.id}. "
                "Wait until the response is finished before creating a new one.",
                event_id=event_id,
            )
            return
        plan = s.plan(params)
        modalities = (
            (params.output_modalities if params else None)
            or s.session.get("output_modalities")
            or ["audio"]
        )
        resp = ActiveResponse(
            id=s.factory.new_id("resp"),
            modalities=list(modalities),
            in_conversation=not (params is not None and params.conversation == "none"),
            metadata=params.metadata if params else None,
        )
        s.active = resp
        await s.send(s.factory.response_created(self._response(resp, "in_progress")))
        resp.task = asyncio.create_task(self._run(resp, plan), name=f"sim-{resp.id}")

    async def _run(self, resp: ActiveResponse, plan: Plan) -> None:
        s = self.s
        try:
            for index, out in enumerate(plan.outputs):
                if resp.reason:
                    break
                if out.kind == "speak":
                    await self._speak(resp, index, out.text)
                else:
                    await self._call(resp, index, out)
            status: Status = "cancelled" if resp.reason else "completed"
            s.active = None  # before response.done: the client may answer it immediately
            await s.send(s.factory.response_done(self._response(resp, status)))
        except asyncio.CancelledError:
            raise
        except Exception:
            if not s.closed:
                log.exception("response %s failed", resp.id)
        finally:
            if s.active is resp:
                s.active = None

    async def _pace(self, resp: ActiveResponse, t0: float, produced_ms: int) -> None:
        speed = self.s.cfg.speed
        if speed <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        delay = t0 + produced_ms / 1000.0 / speed - loop.time()
        if delay <= 0 or resp.wake.is_set():
            await asyncio.sleep(0)
            return
        try:
            async with asyncio.timeout(delay):
                await resp.wake.wait()
        except TimeoutError:
            pass

    async def _synth(self, text: str) -> bytes:
        if self.voice.engine == "synthetic" or self.voice.is_cached(text):
            return self.voice.synthesize(text)
        return await asyncio.to_thread(self.voice.synthesize, text)

    async def _open_item(
        self, resp: ActiveResponse, index: int, item: ConversationItem
    ) -> str | None:
        s = self.s
        await s.send(s.factory.output_item_added(resp.id, index, item))
        if not resp.in_conversation:
            return None
        previous = s.add_item(item)
        await s.send(s.factory.item_added(item, previous))
        return previous

    async def _close_item(
        self, resp: ActiveResponse, index: int, item: ConversationItem, previous: str | None
    ) -> None:
        s = self.s
        resp.output.append(item)
        state = s.items.get(item.id or "") if resp.in_conversation else None
        if state is not None:
            state.item = item
        await s.send(s.factory.output_item_done(resp.id, index, item))
        if resp.in_conversation:
            await s.send(s.factory.item_done(item, previous))

    async def _speak(self, resp: ActiveResponse, index: int, text: str) -> None:
        s, f = self.s, self.s.factory
        item_id = f.new_id("item")
        audio_mode = "audio" in resp.modalities
        previous = await self._open_item(resp, index, assistant_item(item_id, "in_progress"))
        part: Literal["audio", "text"] = "audio" if audio_mode else "text"
        await s.send(f.content_part_added(resp.id, item_id, index, part))
        sent: list[str] = []
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        if audio_mode:
            ulaw = await self._synth(text)
            step = ULAW_BYTES_PER_MS * max(1, s.cfg.chunk_ms)
            chunks = [ulaw[i : i + step] for i in range(0, len(ulaw), step)]
            words = _split_words(text, len(chunks))
            fmt = s.output_format
            produced = 0
            for chunk, chunk_words in zip(chunks, words, strict=False):
                if resp.reason:
                    break
                b64 = base64.b64encode(fmt.from_ulaw8k(chunk)).decode("ascii")
                await s.send(f.audio_delta(resp.id, item_id, index, b64))
                produced += len(chunk) // ULAW_BYTES_PER_MS
                resp.audio_ms += len(chunk) // ULAW_BYTES_PER_MS
                state = s.items.get(item_id)
                if state is not None:
                    state.audio_ms = produced
                if chunk_words:
                    delta = " ".join(chunk_words)
                    await s.send(
                        f.transcript_delta(resp.id, item_id, index, (" " if sent else "") + delta)
                    )
                    sent.extend(chunk_words)
                await self._pace(resp, t0, produced)
            spoken = " ".join(sent)
            await s.send(f.audio_done(resp.id, item_id, index))
            await s.send(f.transcript_done(resp.id, item_id, index, spoken))
        else:
            for n, word in enumerate(text.split()):
                if resp.reason:
                    break
                await s.send(f.text_delta(resp.id, item_id, index, (" " if sent else "") + word))
                sent.append(word)
                await self._pace(resp, t0, (n + 1) * 50)
            spoken = " ".join(sent)
            await s.send(f.text_done(resp.id, item_id, index, spoken))
        resp.text_tokens += len(sent)
        await s.send(f.content_part_done(resp.id, item_id, index, part, spoken))
        status: Literal["completed", "incomplete"] = "incomplete" if resp.reason else "completed"
        final = assistant_item(
            item_id, status, "output_audio" if audio_mode else "output_text", spoken
        )
        await self._close_item(resp, index, final, previous)

    async def _call(self, resp: ActiveResponse, index: int, out: PlannedOutput) -> None:
        s, f = self.s, self.s.factory
        item_id, call_id = f.new_id("item"), f.new_id("call")
        arguments = json.dumps(out.arguments, separators=(",", ":"))

        def item(status: Literal["completed", "incomplete", "in_progress"], args: str) -> Any:
            return RealtimeConversationItemFunctionCall(
                id=item_id,
                object="realtime.item",
                type="function_call",
                status=status,
                name=out.name,
                call_id=call_id,
                arguments=args,
            )

        previous = await self._open_item(resp, index, item("in_progress", ""))
        t0 = asyncio.get_running_loop().time()
        sent = ""
        pieces = [arguments[i : i + 16] for i in range(0, len(arguments), 16)] or [""]
        for n, piece in enumerate(pieces):
            if resp.reason:
                break
            await s.send(f.arguments_delta(resp.id, item_id, index, call_id, piece))
            sent += piece
            await self._pace(resp, t0, (n + 1) * 20)
        if resp.reason:
            await self._close_item(resp, index, item("incomplete", sent), previous)
            return
        await s.send(f.arguments_done(resp.id, item_id, index, call_id, out.name, arguments))
        s.register_call(call_id, out.turn)
        resp.text_tokens += max(1, len(arguments) // 4)
        await self._close_item(resp, index, item("completed", arguments), previous)

    def _response(self, resp: ActiveResponse, status: Status) -> RealtimeResponse:
        s = self.s
        out_cfg = s.session["audio"]["output"]
        voice = out_cfg.get("voice")
        if isinstance(voice, dict):
            voice = voice.get("id")
        audio = Audio.model_validate({"output": {"format": out_cfg.get("format"), "voice": voice}})
        details = None
        usage = None
        if status == "cancelled":
            details = RealtimeResponseStatus(type="cancelled", reason=resp.reason)
        if status != "in_progress":
            audio_tokens = resp.audio_ms // 50
            input_tokens = 20 * len(s.items)
            output_tokens = audio_tokens + resp.text_tokens
            usage = RealtimeResponseUsage(
                total_tokens=input_tokens + output_tokens,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                input_token_details=RealtimeResponseUsageInputTokenDetails(
                    text_tokens=input_tokens, audio_tokens=0, cached_tokens=0
                ),
                output_token_details=RealtimeResponseUsageOutputTokenDetails(
                    text_tokens=resp.text_tokens, audio_tokens=audio_tokens
                ),
            )
        return RealtimeResponse(
            id=resp.id,
            object="realtime.response",
            status=status,
            status_details=details,
            output=list(resp.output),
            conversation_id=f"conv_{s.factory.tag.rstrip('_')}" if resp.in_conversation else None,
            output_modalities=list(resp.modalities),
            max_output_tokens=s.session.get("max_output_tokens", "inf"),
            audio=audio,
            usage=usage,
            metadata=resp.metadata,
        )
