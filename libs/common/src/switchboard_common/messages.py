"""Control messages on the bus: versioned pydantic models, JSON on the wire.

Every model carries ``v`` (schema version) and a ``type`` discriminator. Readers are tolerant
(unknown fields are ignored) so a newer producer does not break an older consumer; a breaking
change bumps ``v``. Audio never travels as one of these: see :mod:`.audio`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .ids import TOKEN_PATTERN, BusinessId, CallId, ProcessId


def utc_now() -> datetime:
    return datetime.now(UTC)


class BusMessage(BaseModel):
    """Base of every control message: frozen, versioned, tolerant of unknown fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    v: Literal[1] = 1

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


# --- dispatch: gateway → agents (request-reply, queue group) -------------------------------


class CallOffer(BusMessage):
    """A gateway asks the agent pool to take a new call (sent at the voice webhook)."""

    type: Literal["call.offer"] = "call.offer"
    call_id: CallId
    business_id: BusinessId
    gateway_id: ProcessId
    from_number: str = ""
    to_number: str = ""
    account_sid: str = ""
    offered_at: datetime = Field(default_factory=utc_now)
    #: The call is already streaming and its agent was lost: the taker carries it on from the
    #: call's events instead of greeting (see docs/resilience.md).
    resume: bool = False
    #: The ownership epoch the taker will hold the call at (see :mod:`.call_lease`).
    epoch: int = Field(1, ge=1)


class CallOfferReply(BusMessage):
    """An agent's answer to an offer; ``accepted`` means it owns the call from now on."""

    type: Literal["call.offer.reply"] = "call.offer.reply"
    call_id: CallId
    accepted: bool
    agent_id: ProcessId
    reason: str = ""


class AgentHeartbeat(BusMessage):
    """An agent process is alive; gateways end calls whose agent stops beating."""

    type: Literal["agent.heartbeat"] = "agent.heartbeat"
    agent_id: ProcessId
    active_calls: int
    capacity: int
    interval_s: float
    #: Shutting down: it finishes its calls and takes no new one (so it has no room).
    draining: bool = False

    @property
    def room(self) -> int:
        """How many more calls the agent would take now."""
        return 0 if self.draining else max(self.capacity - self.active_calls, 0)


# --- gateway → agent (per call) ------------------------------------------------------------


class CallStarted(BusMessage):
    """Twilio's media stream for the call is open: audio will flow now."""

    type: Literal["call.started"] = "call.started"
    call_id: CallId
    stream_sid: str
    gateway_id: ProcessId
    custom_parameters: dict[str, str] = Field(default_factory=dict)
    #: The agent the gateway streams the call to. Another agent that hears this start on the
    #: same subjects accepted the offer after the gateway stopped waiting for it: it lets go.
    agent_id: ProcessId | None = None


class CallerDtmf(BusMessage):
    """The caller pressed a key."""

    type: Literal["caller.dtmf"] = "caller.dtmf"
    call_id: CallId
    digit: str


class PlaybackIdle(BusMessage):
    """Every agent chunk sent to Twilio has been played (the last mark came back)."""

    type: Literal["playback.idle"] = "playback.idle"
    call_id: CallId
    last_chunk: int


class EndReason(StrEnum):
    CALLER_HUNG_UP = "caller_hung_up"
    AGENT_HUNG_UP = "agent_hung_up"
    TRANSFERRED = "transferred"
    AGENT_LOST = "agent_lost"
    #: The gateway holding the call's stream died and the call could not come back.
    GATEWAY_LOST = "gateway_lost"
    GATEWAY_SHUTDOWN = "gateway_shutdown"
    STREAM_ERROR = "stream_error"
    NOT_STARTED = "not_started"


class CallEnded(BusMessage):
    """The call is over on the telephony side; the agent releases everything it holds."""

    type: Literal["call.ended"] = "call.ended"
    call_id: CallId
    reason: EndReason


class DialStatus(StrEnum):
    """How a transfer's ``<Dial>`` ended, in Twilio's words (its ``DialCallStatus``), plus
    ``answered`` as soon as the person picks up (the ``<Number>`` status callback)."""

    ANSWERED = "answered"
    COMPLETED = "completed"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def connected(self) -> bool:
        """The caller was put through to the person."""
        return self in (DialStatus.ANSWERED, DialStatus.COMPLETED)


class TransferOutcome(BusMessage):
    """What became of the transfer the agent asked for: the person answered (the call is
    theirs now), or nobody did, the line was busy or the dial failed, and the caller comes
    back to the agent on a new stream of the same call."""

    type: Literal["call.transfer.outcome"] = "call.transfer.outcome"
    call_id: CallId
    status: DialStatus
    to_number: str = ""


AgentControl = Annotated[
    CallStarted | CallerDtmf | PlaybackIdle | CallEnded | TransferOutcome,
    Field(discriminator="type"),
]
agent_control_adapter: TypeAdapter[AgentControl] = TypeAdapter(AgentControl)


# --- agent → gateway (per call) ------------------------------------------------------------


class ClearPlayback(BusMessage):
    """Barge-in: drop the agent audio Twilio has buffered. Request-reply: the reply is a
    :class:`PlaybackPosition` taken at the moment of the clear."""

    type: Literal["playback.clear"] = "playback.clear"
    call_id: CallId


class ReconnectCall(BusMessage):
    """An agent's call lost its media stream (its gateway died) and did not come back through
    Twilio's ``<Connect action>`` URL: any gateway redirects the live call to a new stream
    through Twilio's REST API. Request-reply: the reply is a :class:`ReconnectReply`."""

    type: Literal["call.reconnect"] = "call.reconnect"
    call_id: CallId
    agent_id: ProcessId
    epoch: int = Field(1, ge=1)


class ReconnectReply(BusMessage):
    """Whether the gateway asked Twilio to bring the call back, and why not when it did not."""

    type: Literal["call.reconnect.reply"] = "call.reconnect.reply"
    call_id: CallId
    ok: bool
    reason: str = ""


class PlaybackPosition(BusMessage):
    """What Twilio had played when asked: the last chunk whose mark came back, and how long ago.

    ``last_chunk`` is -1 when no mark has come back yet. ``ms_since_mark`` lets the agent
    interpolate inside the next chunk (Twilio plays in real time between marks).
    """

    type: Literal["playback.position"] = "playback.position"
    call_id: CallId
    last_chunk: int
    ms_since_mark: float
    chunks_sent: int


class HangUp(BusMessage):
    """The agent ends the call (optionally after its audio has finished playing)."""

    type: Literal["call.hangup"] = "call.hangup"
    call_id: CallId
    reason: str = ""
    after_playback: bool = True
    #: The agent cannot go on (its model is unreachable): the caller hears the apology before
    #: the line closes, never a bare hang-up.
    apology: bool = False


class TransferCall(BusMessage):
    """The agent hands the caller to a person: once its last words have played, the stream
    ends and Twilio dials ``to_number`` (answered at the <Connect> action URL)."""

    type: Literal["call.transfer"] = "call.transfer"
    call_id: CallId
    to_number: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$")
    reason: str = ""
    after_playback: bool = True
    #: The number the person sees calling (None: Twilio's default, the caller's number).
    caller_id: str | None = Field(None, pattern=r"^\+[1-9][0-9]{1,14}$")
    #: How long the number rings before the caller comes back to the agent (``<Dial timeout>``).
    timeout_s: int = Field(20, ge=5, le=600)
    #: The agent cannot go on (its model is unreachable) and hands the caller over as a last
    #: resort: the caller hears the apology before the dial, and when nobody takes the call
    #: it ends (with an apology) instead of coming back to the agent.
    apology: bool = False


GatewayControl = Annotated[ClearPlayback | HangUp | TransferCall, Field(discriminator="type")]
gateway_control_adapter: TypeAdapter[GatewayControl] = TypeAdapter(GatewayControl)


# --- events for other services -------------------------------------------------------------


class Speaker(StrEnum):
    CALLER = "caller"
    AGENT = "agent"


class TranscriptEvent(BusMessage):
    """Something said on a call, as it happens. Published on ``subjects.transcript``."""

    type: Literal["transcript"] = "transcript"
    call_id: CallId
    business_id: BusinessId
    speaker: Speaker
    text: str
    item_id: str = ""
    interrupted: bool = False
    at: datetime = Field(default_factory=utc_now)


class ToolCallEvent(BusMessage):
    """The agent ran a tool (published on the call's transcript subject, so a transcript
    reader sees it in order)."""

    type: Literal["tool.call"] = "tool.call"
    call_id: CallId
    business_id: BusinessId
    name: str
    arguments: str
    ok: bool
    output: str
    latency_ms: float
    at: datetime = Field(default_factory=utc_now)


class CallerMessage(BusMessage):
    """A message a caller left for the business."""

    type: Literal["caller.message"] = "caller.message"
    call_id: CallId
    business_id: BusinessId
    caller_name: str = ""
    callback_number: str = ""
    message: str
    at: datetime = Field(default_factory=utc_now)


CallEvent = Annotated[TranscriptEvent | ToolCallEvent, Field(discriminator="type")]
call_event_adapter: TypeAdapter[CallEvent] = TypeAdapter(CallEvent)


# --- the call record (JetStream KV, key = call id) -----------------------------------------


class CallState(StrEnum):
    OFFERED = "offered"
    STREAMING = "streaming"
    ENDED = "ended"


class CallRecord(BusMessage):
    """What belongs to a call, kept outside any one process so a call can move."""

    type: Literal["call.record"] = "call.record"
    call_id: CallId
    business_id: BusinessId
    state: CallState
    gateway_id: ProcessId
    agent_id: ProcessId | None = None
    #: Goes up by one each time the call changes owner (see :mod:`.call_lease`); whatever
    #: carries an older epoch is stale.
    epoch: int = Field(1, ge=1)
    stream_sid: str = ""
    from_number: str = ""
    to_number: str = ""
    started_at: datetime = Field(default_factory=utc_now)
    ended_reason: EndReason | None = None
    transfer_to: str | None = None
    #: The transfer's caller ID and ring time, for a ``<Dial>`` made from the action URL.
    transfer_caller_id: str | None = None
    transfer_timeout_s: int | None = None
    #: The transfer was the agent's last resort (:attr:`TransferCall.apology`).
    transfer_apology: bool = False


# --- the web console's sign-ins (JetStream KV, key = login name) ---------------------------


class ConsoleLogin(BusMessage):
    """One person's way into the web console. ``business_id`` None is a platform admin (every
    business); otherwise the login sees that business alone. Only a hash of the password is
    kept: ``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>``."""

    type: Literal["console.login"] = "console.login"
    login: str = Field(pattern=TOKEN_PATTERN)
    business_id: BusinessId | None = None
    password_hash: str
    created_at: datetime = Field(default_factory=utc_now)
