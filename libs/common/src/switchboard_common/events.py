"""Call events: the durable record of everything a call does (issue 4).

Each call publishes an ordered series of events into the JetStream stream
:data:`STREAM_NAME` on ``sb.events.<business>.<call>.<type>``. Every event carries the call, the
business, a per-call sequence number ``seq`` (1, 2, 3… in publish order) and the time ``at``
(UTC). The models follow :mod:`.messages`: frozen pydantic models with a schema version ``v``
and a ``type`` discriminator, tolerant of fields they do not know. ``docs/events.md`` is the
consumer-facing description of this module; keep the two in step.

The stream itself (creation, publishing, replay, tailing) is in :mod:`.event_stream`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from .ids import BusinessId, CallId, ProcessId, check_token
from .messages import BusMessage, utc_now
from .subjects import (
    ALL_EVENTS,
    BUSINESS_CALL_EVENTS,
    BUSINESS_EVENTS,
    CALL_EVENT,
    CALL_EVENTS,
    render,
)

# --- the stream and its subjects -----------------------------------------------------------

#: The JetStream stream holding every call event.
STREAM_NAME = "SB_CALL_EVENTS"
#: The stream's subject: every event of every call of every business.
STREAM_SUBJECT = ALL_EVENTS
#: JetStream de-duplicates publishes carrying the same value of this header.
MSG_ID_HEADER = "Nats-Msg-Id"

EventType = Literal[
    "call_started",
    "call_resumed",
    "caller_turn",
    "agent_turn",
    "tool_called",
    "dtmf",
    "transfer",
    "call_ended",
]


def event_subject(business_id: str, call_id: str, event_type: str) -> str:
    """Where one event of one call is published: ``sb.events.<business>.<call>.<type>``."""
    return render(CALL_EVENT, business_id=business_id, call_id=call_id, event_type=event_type)


def business_events(business_id: str) -> str:
    """Filter over every event of one business (tenant)."""
    return render(BUSINESS_EVENTS, business_id=business_id)


def call_events(call_id: str) -> str:
    """Filter over every event of one call, whatever its business."""
    return render(CALL_EVENTS, call_id=call_id)


def events_filter(business_id: str | None = None, call_id: str | None = None) -> str:
    """Filter for a business, a call, both, or (neither) everything."""
    if business_id and call_id:
        return render(BUSINESS_CALL_EVENTS, business_id=business_id, call_id=call_id)
    if call_id:
        return call_events(call_id)
    return business_events(business_id) if business_id else ALL_EVENTS


def msg_id(call_id: str, seq: int) -> str:
    """The de-duplication id of an event: ``<call_id>:<seq>``, unique within the stream."""
    return f"{check_token(call_id, 'call id')}:{seq}"


# --- the events ----------------------------------------------------------------------------


class CallEventBase(BusMessage):
    """What every call event carries."""

    call_id: CallId
    business_id: BusinessId
    seq: int = Field(ge=1, description="Per-call sequence number: 1, 2, 3… in publish order.")
    at: datetime = Field(default_factory=utc_now, description="When it happened (UTC).")

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # A reader is tolerant: a time without an offset is taken to be UTC.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def subject(self) -> str:
        """The subject this event is published on."""
        return event_subject(self.business_id, self.call_id, self.type_name)

    @property
    def type_name(self) -> str:
        value: str = getattr(self, "type")  # noqa: B009 - every concrete event has one
        return value


class CallStartedEvent(CallEventBase):
    """The agent took the call and the media stream is open."""

    type: Literal["call_started"] = "call_started"
    from_number: str = ""
    to_number: str = ""
    agent_id: ProcessId
    gateway_id: ProcessId


class CallResumedEvent(CallEventBase):
    """The call's agent was lost and another took the call over: it carries the same
    conversation on, and its events continue this call's ``seq``."""

    type: Literal["call_resumed"] = "call_resumed"
    agent_id: ProcessId
    previous_agent_id: str = ""
    epoch: int = Field(ge=2, description="The ownership epoch the call moved to.")
    reason: str = ""


class CallerTurnEvent(CallEventBase):
    """The caller said something (the final transcript of one utterance)."""

    type: Literal["caller_turn"] = "caller_turn"
    text: str
    item_id: str = ""


class AgentTurnEvent(CallEventBase):
    """The agent said something (one reply's final transcript)."""

    type: Literal["agent_turn"] = "agent_turn"
    text: str
    item_id: str = ""
    interrupted: bool = False
    played_ms: int | None = Field(
        default=None, ge=0, description="Audio of this reply the caller heard; null = unknown."
    )
    produced_ms: int = Field(default=0, ge=0, description="Audio of this reply the model made.")
    latency_ms: float | None = Field(
        default=None,
        ge=0,
        description="From the end of the caller's speech to this reply's first audio; null "
        "when the reply did not answer speech (the greeting, an answer to a key). A reply "
        "speaking a tool's result answers the speech that called the tool.",
    )


class ToolCalledEvent(CallEventBase):
    """The agent ran a tool on the model's behalf."""

    type: Literal["tool_called"] = "tool_called"
    name: str
    arguments: str = Field(description="The arguments as the model sent them (a JSON string).")
    ok: bool
    output: str
    latency_ms: float = Field(ge=0)


class DtmfEvent(CallEventBase):
    """The caller pressed a key."""

    type: Literal["dtmf"] = "dtmf"
    digit: str


class TransferEvent(CallEventBase):
    """The agent tried to transfer the call to another number."""

    type: Literal["transfer"] = "transfer"
    to_number: str
    ok: bool
    reason: str = ""


class TokenUsage(BaseModel):
    """The model's token usage over the whole call."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)


class CallEndedEvent(CallEventBase):
    """The call is over; always the last event of a call."""

    type: Literal["call_ended"] = "call_ended"
    duration_s: float = Field(ge=0)
    caller_turns: int = Field(ge=0)
    agent_turns: int = Field(ge=0)
    usage: TokenUsage | None = None
    reason: str = ""
    #: Why the agent ended the call, when it did (``max_call_length``, ``caller_silence``, or
    #: the reason the model gave ``end_call``, or ``transfer_call`` for a call it transferred);
    #: ``""`` otherwise.
    detail: str = Field("", max_length=200)


AnyCallEvent = Annotated[
    CallStartedEvent
    | CallResumedEvent
    | CallerTurnEvent
    | AgentTurnEvent
    | ToolCalledEvent
    | DtmfEvent
    | TransferEvent
    | CallEndedEvent,
    Field(discriminator="type"),
]
#: Reads any call event (JSON bytes or str) into its model.
any_call_event_adapter: TypeAdapter[AnyCallEvent] = TypeAdapter(AnyCallEvent)

#: Every event model, by ``type``.
EVENT_MODELS: dict[str, type[CallEventBase]] = {
    model.model_fields["type"].default: model
    for model in (
        CallStartedEvent,
        CallResumedEvent,
        CallerTurnEvent,
        AgentTurnEvent,
        ToolCalledEvent,
        DtmfEvent,
        TransferEvent,
        CallEndedEvent,
    )
}


def parse_event(data: bytes | str) -> AnyCallEvent | None:
    """Read one event, or None for one this reader cannot understand (an unknown ``type``, a
    newer ``v``, or bad JSON): a consumer skips what it does not know rather than stopping."""
    try:
        return any_call_event_adapter.validate_json(data)
    except ValidationError:
        return None


# --- rendering (the CLI and the HTTP transcript) -------------------------------------------


class TranscriptEntry(BaseModel):
    """One line of a call's transcript: a turn of the caller or the agent, or a tool call."""

    model_config = ConfigDict(frozen=True)

    seq: int
    at: datetime
    speaker: Literal["caller", "agent", "tool"]
    text: str
    interrupted: bool = False
    played_ms: int | None = None
    produced_ms: int | None = None
    tool: str | None = None
    ok: bool | None = None
    latency_ms: float | None = None
    line: str


def _played(event: AgentTurnEvent) -> str:
    if not event.interrupted:
        return ""
    if event.played_ms is None:
        return " [interrupted]"
    return f" [interrupted at {event.played_ms} of {event.produced_ms} ms]"


def transcript_entries(events: list[AnyCallEvent]) -> list[TranscriptEntry]:
    """The conversation in a call's events: turns and tool calls, in event order."""
    entries: list[TranscriptEntry] = []
    for event in events:
        if isinstance(event, CallerTurnEvent):
            entries.append(
                TranscriptEntry(
                    seq=event.seq,
                    at=event.at,
                    speaker="caller",
                    text=event.text,
                    line=f"caller: {event.text}",
                )
            )
        elif isinstance(event, AgentTurnEvent):
            entries.append(
                TranscriptEntry(
                    seq=event.seq,
                    at=event.at,
                    speaker="agent",
                    text=event.text,
                    interrupted=event.interrupted,
                    played_ms=event.played_ms,
                    produced_ms=event.produced_ms,
                    line=f"agent: {event.text}{_played(event)}",
                )
            )
        elif isinstance(event, ToolCalledEvent):
            status = "ok" if event.ok else "failed"
            entries.append(
                TranscriptEntry(
                    seq=event.seq,
                    at=event.at,
                    speaker="tool",
                    text=event.output,
                    tool=event.name,
                    ok=event.ok,
                    latency_ms=event.latency_ms,
                    line=(
                        f"tool {event.name}({event.arguments}) {status} in "
                        f"{event.latency_ms:.0f} ms: {event.output}"
                    ),
                )
            )
    return entries


def describe(event: AnyCallEvent) -> str:
    """One human line for an event (``events tail`` and ``events show``)."""
    head = f"{event.at:%Y-%m-%dT%H:%M:%S.%f}"[:-3] + "Z"
    head += f" {event.business_id}/{event.call_id} #{event.seq} {event.type}"
    if isinstance(event, CallStartedEvent):
        body = (
            f"from {event.from_number or '?'} to {event.to_number or '?'}, "
            f"agent {event.agent_id}, gateway {event.gateway_id}"
        )
    elif isinstance(event, CallResumedEvent):
        body = (
            f"agent {event.agent_id} took over from {event.previous_agent_id or '?'} "
            f"at epoch {event.epoch} ({event.reason or 'resumed'})"
        )
    elif isinstance(event, CallerTurnEvent):
        body = repr(event.text)
    elif isinstance(event, AgentTurnEvent):
        body = repr(event.text) + _played(event)
    elif isinstance(event, ToolCalledEvent):
        status = "ok" if event.ok else "failed"
        body = f"{event.name}({event.arguments}) {status} in {event.latency_ms:.0f} ms"
    elif isinstance(event, DtmfEvent):
        body = event.digit
    elif isinstance(event, TransferEvent):
        body = f"to {event.to_number} {'ok' if event.ok else 'failed'}"
        body += f" ({event.reason})" if event.reason else ""
    else:
        body = (
            f"{event.reason or 'ended'} after {event.duration_s:.1f} s, "
            f"{event.caller_turns} caller / {event.agent_turns} agent turns"
        )
        if event.usage is not None:
            body += f", {event.usage.total_tokens} tokens"
    return f"{head} {body}"
