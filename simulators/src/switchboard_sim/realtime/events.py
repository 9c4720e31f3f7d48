"""Server events, built only from the ``openai`` SDK's own models.

Constructing the SDK's pydantic classes validates every field, so whatever the
simulator sends is known to parse with ``AsyncRealtimeConnection.parse_event``.
Client events are validated with a ``TypeAdapter`` over the SDK's client-event
union (as a pydantic discriminated union on ``type``, which is ~8x faster
than letting pydantic try every member).
"""

from __future__ import annotations

import typing
from collections import defaultdict
from typing import Annotated, Any, Literal, TypeVar, Union

from openai.types.realtime import (
    ConversationItemAdded,
    ConversationItemDeletedEvent,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemTruncatedEvent,
    InputAudioBufferClearedEvent,
    InputAudioBufferCommittedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
    RealtimeClientEvent,
    RealtimeError,
    RealtimeErrorEvent,
    RealtimeResponse,
    RealtimeSessionCreateRequest,
    ResponseAudioDeltaEvent,
    ResponseAudioDoneEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseAudioTranscriptDoneEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
)
from openai.types.realtime.conversation_item import ConversationItem
from openai.types.realtime.conversation_item_input_audio_transcription_completed_event import (
    UsageTranscriptTextUsageTokens,
)
from openai.types.realtime.realtime_server_event import (
    ConversationItemRetrieved,
    RealtimeServerEvent,
)
from openai.types.realtime.response_content_part_added_event import Part as AddedPart
from openai.types.realtime.response_content_part_done_event import Part as DonePart
from pydantic import BaseModel, Field, TypeAdapter

_Event = TypeVar("_Event", bound=BaseModel)


def _discriminated(union_alias: Any) -> Any:
    members = typing.get_args(typing.get_args(union_alias)[0])
    return Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007


CLIENT_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(_discriminated(RealtimeClientEvent))
SERVER_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(_discriminated(RealtimeServerEvent))
CLIENT_EVENT_TYPES: tuple[str, ...] = tuple(
    typing.get_args(m.model_fields["type"].annotation)[0]
    for m in typing.get_args(typing.get_args(RealtimeClientEvent)[0])
)

PartType = Literal["text", "audio"]


def encode(event: BaseModel) -> str:
    """Serialize exactly the fields that were set (explicit ``None`` is kept)."""
    return event.model_dump_json(exclude_unset=True, by_alias=True)


class EventFactory:
    """Per-session ids and server-event construction."""

    def __init__(self, session_tag: str) -> None:
        self.tag = session_tag
        self._counters: defaultdict[str, int] = defaultdict(int)

    def new_id(self, prefix: str) -> str:
        self._counters[prefix] += 1
        return f"{prefix}_{self.tag}{self._counters[prefix]:04d}"

    def _in_response(
        self,
        cls: type[_Event],
        type_: str,
        response_id: str,
        item_id: str,
        output_index: int,
        **payload: Any,
    ) -> _Event:
        """An event about one output item of a response: only the type and payload differ."""
        return cls(
            type=type_,
            event_id=self._eid(),
            response_id=response_id,
            item_id=item_id,
            output_index=output_index,
            **payload,
        )

    def _eid(self) -> str:
        return self.new_id("event")

    # -- session / errors -------------------------------------------------
    def session_created(self, session: dict[str, Any]) -> SessionCreatedEvent:
        model = RealtimeSessionCreateRequest.model_validate(session)
        return SessionCreatedEvent(type="session.created", event_id=self._eid(), session=model)

    def session_updated(self, session: dict[str, Any]) -> SessionUpdatedEvent:
        model = RealtimeSessionCreateRequest.model_validate(session)
        return SessionUpdatedEvent(type="session.updated", event_id=self._eid(), session=model)

    def error(
        self,
        code: str,
        message: str,
        *,
        param: str | None = None,
        event_id: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> RealtimeErrorEvent:
        err = RealtimeError(
            type=error_type, code=code, message=message, param=param, event_id=event_id
        )
        return RealtimeErrorEvent(type="error", event_id=self._eid(), error=err)

    # -- input audio buffer ----------------------------------------------
    def speech_started(
        self, audio_start_ms: int, item_id: str
    ) -> InputAudioBufferSpeechStartedEvent:
        return InputAudioBufferSpeechStartedEvent(
            type="input_audio_buffer.speech_started",
            event_id=self._eid(),
            audio_start_ms=audio_start_ms,
            item_id=item_id,
        )

    def speech_stopped(self, audio_end_ms: int, item_id: str) -> InputAudioBufferSpeechStoppedEvent:
        return InputAudioBufferSpeechStoppedEvent(
            type="input_audio_buffer.speech_stopped",
            event_id=self._eid(),
            audio_end_ms=audio_end_ms,
            item_id=item_id,
        )

    def committed(
        self, item_id: str, previous_item_id: str | None
    ) -> InputAudioBufferCommittedEvent:
        return InputAudioBufferCommittedEvent(
            type="input_audio_buffer.committed",
            event_id=self._eid(),
            item_id=item_id,
            previous_item_id=previous_item_id,
        )

    def cleared(self) -> InputAudioBufferClearedEvent:
        return InputAudioBufferClearedEvent(type="input_audio_buffer.cleared", event_id=self._eid())

    # -- conversation items -----------------------------------------------
    def item_added(self, item: ConversationItem, previous: str | None) -> ConversationItemAdded:
        return ConversationItemAdded(
            type="conversation.item.added",
            event_id=self._eid(),
            item=item,
            previous_item_id=previous,
        )

    def item_done(self, item: ConversationItem, previous: str | None) -> ConversationItemDone:
        return ConversationItemDone(
            type="conversation.item.done",
            event_id=self._eid(),
            item=item,
            previous_item_id=previous,
        )

    def item_retrieved(self, item: ConversationItem) -> ConversationItemRetrieved:
        return ConversationItemRetrieved(
            type="conversation.item.retrieved", event_id=self._eid(), item=item
        )

    def item_deleted(self, item_id: str) -> ConversationItemDeletedEvent:
        return ConversationItemDeletedEvent(
            type="conversation.item.deleted", event_id=self._eid(), item_id=item_id
        )

    def item_truncated(
        self, item_id: str, content_index: int, audio_end_ms: int
    ) -> ConversationItemTruncatedEvent:
        return ConversationItemTruncatedEvent(
            type="conversation.item.truncated",
            event_id=self._eid(),
            item_id=item_id,
            content_index=content_index,
            audio_end_ms=audio_end_ms,
        )

    def transcription_completed(
        self, item_id: str, transcript: str, audio_ms: int
    ) -> ConversationItemInputAudioTranscriptionCompletedEvent:
        audio_tokens = max(1, audio_ms // 100)
        text_tokens = max(1, len(transcript.split()))
        usage = UsageTranscriptTextUsageTokens(
            type="tokens",
            input_tokens=audio_tokens,
            output_tokens=text_tokens,
            total_tokens=audio_tokens + text_tokens,
        )
        return ConversationItemInputAudioTranscriptionCompletedEvent(
            type="conversation.item.input_audio_transcription.completed",
            event_id=self._eid(),
            item_id=item_id,
            content_index=0,
            transcript=transcript,
            usage=usage,
        )

    # -- responses ----------------------------------------------------------
    def response_created(self, response: RealtimeResponse) -> ResponseCreatedEvent:
        return ResponseCreatedEvent(
            type="response.created", event_id=self._eid(), response=response
        )

    def response_done(self, response: RealtimeResponse) -> ResponseDoneEvent:
        return ResponseDoneEvent(type="response.done", event_id=self._eid(), response=response)

    def output_item_added(
        self, response_id: str, output_index: int, item: ConversationItem
    ) -> ResponseOutputItemAddedEvent:
        return ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            event_id=self._eid(),
            response_id=response_id,
            output_index=output_index,
            item=item,
        )

    def output_item_done(
        self, response_id: str, output_index: int, item: ConversationItem
    ) -> ResponseOutputItemDoneEvent:
        return ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            event_id=self._eid(),
            response_id=response_id,
            output_index=output_index,
            item=item,
        )

    def content_part_added(
        self, response_id: str, item_id: str, output_index: int, part_type: PartType
    ) -> ResponseContentPartAddedEvent:
        part = (
            AddedPart(type=part_type, transcript="")
            if part_type == "audio"
            else AddedPart(type=part_type, text="")
        )
        return self._in_response(
            ResponseContentPartAddedEvent,
            "response.content_part.added",
            response_id,
            item_id,
            output_index,
            content_index=0,
            part=part,
        )

    def content_part_done(
        self, response_id: str, item_id: str, output_index: int, part_type: PartType, text: str
    ) -> ResponseContentPartDoneEvent:
        part = (
            DonePart(type=part_type, transcript=text)
            if part_type == "audio"
            else DonePart(type=part_type, text=text)
        )
        return self._in_response(
            ResponseContentPartDoneEvent,
            "response.content_part.done",
            response_id,
            item_id,
            output_index,
            content_index=0,
            part=part,
        )

    def audio_delta(
        self, response_id: str, item_id: str, output_index: int, b64: str
    ) -> ResponseAudioDeltaEvent:
        return self._in_response(
            ResponseAudioDeltaEvent,
            "response.output_audio.delta",
            response_id,
            item_id,
            output_index,
            content_index=0,
            delta=b64,
        )

    def audio_done(
        self, response_id: str, item_id: str, output_index: int
    ) -> ResponseAudioDoneEvent:
        return self._in_response(
            ResponseAudioDoneEvent,
            "response.output_audio.done",
            response_id,
            item_id,
            output_index,
            content_index=0,
        )

    def transcript_delta(
        self, response_id: str, item_id: str, output_index: int, delta: str
    ) -> ResponseAudioTranscriptDeltaEvent:
        return self._in_response(
            ResponseAudioTranscriptDeltaEvent,
            "response.output_audio_transcript.delta",
            response_id,
            item_id,
            output_index,
            content_index=0,
            delta=delta,
        )

    def transcript_done(
        self, response_id: str, item_id: str, output_index: int, transcript: str
    ) -> ResponseAudioTranscriptDoneEvent:
        return self._in_response(
            ResponseAudioTranscriptDoneEvent,
            "response.output_audio_transcript.done",
            response_id,
            item_id,
            output_index,
            content_index=0,
            transcript=transcript,
        )

    def text_delta(
        self, response_id: str, item_id: str, output_index: int, delta: str
    ) -> ResponseTextDeltaEvent:
        return self._in_response(
            ResponseTextDeltaEvent,
            "response.output_text.delta",
            response_id,
            item_id,
            output_index,
            content_index=0,
            delta=delta,
        )

    def text_done(
        self, response_id: str, item_id: str, output_index: int, text: str
    ) -> ResponseTextDoneEvent:
        return self._in_response(
            ResponseTextDoneEvent,
            "response.output_text.done",
            response_id,
            item_id,
            output_index,
            content_index=0,
            text=text,
        )

    def arguments_delta(
        self, response_id: str, item_id: str, output_index: int, call_id: str, delta: str
    ) -> ResponseFunctionCallArgumentsDeltaEvent:
        return self._in_response(
            ResponseFunctionCallArgumentsDeltaEvent,
            "response.function_call_arguments.delta",
            response_id,
            item_id,
            output_index,
            call_id=call_id,
            delta=delta,
        )

    def arguments_done(
        self,
        response_id: str,
        item_id: str,
        output_index: int,
        call_id: str,
        name: str,
        arguments: str,
    ) -> ResponseFunctionCallArgumentsDoneEvent:
        return self._in_response(
            ResponseFunctionCallArgumentsDoneEvent,
            "response.function_call_arguments.done",
            response_id,
            item_id,
            output_index,
            call_id=call_id,
            name=name,
            arguments=arguments,
        )


__all__ = [
    "CLIENT_EVENT_ADAPTER",
    "CLIENT_EVENT_TYPES",
    "SERVER_EVENT_ADAPTER",
    "EventFactory",
    "encode",
]
