"""Every channel on the bus, who publishes and who subscribes, in one declarative list.

This is the bus's single description: ``asyncapi.py`` renders it as an AsyncAPI 3.0 document,
and NATS permissions per service are meant to be derived from it, so it must match the code
exactly (``tests/unit/common/test_catalog.py`` checks that every subject of :mod:`.subjects`
and :mod:`.events` is covered). Subjects are never spelled here: each channel points at its
template in :mod:`.subjects`.

Beyond the channels listed, NATS itself needs:

* request-reply: a requester subscribes to its own inbox (``_INBOX.>``) and a responder
  publishes to the reply subject it was given (``allow_responses``);
* JetStream: its API subjects (``$JS.API.>``) for the streams and buckets below, and a
  key-value bucket ``B`` lives on ``$KV.B.>`` (see :attr:`KeyValueBucket.subjects`);
* nats.micro: the knowledge service answers discovery on ``$SRV.…``
  (:attr:`MicroService.discovery_subjects`).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from enum import StrEnum
from string import Formatter

from nats.micro.service import ServiceVerb, control_subject
from pydantic import BaseModel

from . import audio, knowledge, subjects
from .business import BusinessProfile
from .events import EVENT_MODELS, MSG_ID_HEADER, STREAM_NAME, EventType
from .messages import (
    AgentHeartbeat,
    CallEnded,
    CallerDtmf,
    CallerMessage,
    CallOffer,
    CallOfferReply,
    CallRecord,
    CallStarted,
    ClearPlayback,
    ConsoleLogin,
    HangUp,
    PlaybackIdle,
    PlaybackPosition,
    ReconnectCall,
    ReconnectReply,
    ToolCallEvent,
    TranscriptEvent,
    TransferCall,
    TransferOutcome,
)


class Service(StrEnum):
    """Who is on the bus. Each is one NATS identity (user) when permissions are applied."""

    GATEWAY = "gateway"
    AGENT = "agent"
    KNOWLEDGE = "knowledge"
    #: Operator tooling: the ``switchboard_common.cli`` commands, demo seeding, benchmarks.
    ADMIN = "admin"
    #: Anything outside Switchboard that follows calls (CRM sync, analytics, recorders).
    CONSUMER = "consumer"


@dataclass(frozen=True)
class Parameter:
    """One ``{name}`` of a subject template: always a single subject token."""

    name: str
    description: str
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class Header:
    """A NATS message header a channel's messages carry."""

    name: str
    description: str


@dataclass(frozen=True)
class AudioPayload:
    """Raw audio bytes (not JSON); the layout follows :mod:`.audio`."""

    name: str
    summary: str
    description: str
    #: Bytes before the μ-law samples, and what they hold.
    header_size: int
    layout: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Request:
    """A request-reply exchange: the requester waits for one reply on its own inbox."""

    message: type[BaseModel]
    replies: tuple[type[BaseModel], ...]
    #: nats.micro endpoints answer a failure with the ``Nats-Service-Error`` headers and one of
    #: these codes instead of a reply model.
    error_codes: type[StrEnum] | None = None


@dataclass(frozen=True)
class Channel:
    """One subject (template) on the bus and everything that travels on it."""

    id: str
    #: The subject template from :mod:`.subjects`, ``{name}`` per parameter.
    template: str
    summary: str
    publishers: frozenset[Service]
    subscribers: frozenset[Service]
    parameters: tuple[Parameter, ...] = ()
    #: Fire-and-forget messages.
    messages: tuple[type[BaseModel], ...] = ()
    #: Request-reply exchanges (the publishers are the requesters).
    requests: tuple[Request, ...] = ()
    audio: AudioPayload | None = None
    headers: tuple[Header, ...] = ()
    #: Subscribers share the messages in this queue group (one of them gets each).
    queue_group: str | None = None
    #: The JetStream stream that stores the channel; subscribers read through the stream.
    stream: str | None = None
    #: Wildcard templates subscribers use over this channel (narrower or wider than one id).
    filters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [name for _, name, _, _ in Formatter().parse(self.template) if name]
        if names != [p.name for p in self.parameters]:
            raise ValueError(f"channel {self.id}: parameters {names} not documented in order")
        if not (self.messages or self.requests or self.audio):
            raise ValueError(f"channel {self.id} carries nothing")

    def subject(self, **tokens: str) -> str:
        """The concrete subject for these parameter values."""
        return subjects.render(self.template, **tokens)

    @property
    def wildcard(self) -> str:
        """The NATS subscription that matches every subject of the channel."""
        return self.template.format_map({p.name: "*" for p in self.parameters})

    @property
    def payload_models(self) -> tuple[type[BaseModel], ...]:
        """Every pydantic model seen on the channel, replies included, in declaration order."""
        models = list(self.messages)
        for request in self.requests:
            models.append(request.message)
            models.extend(request.replies)
        return tuple(dict.fromkeys(models))


@dataclass(frozen=True)
class KeyValueBucket:
    """A JetStream key-value bucket and who reads or writes it."""

    name: str
    summary: str
    key: str
    value: type[BaseModel] | None
    value_description: str
    writers: frozenset[Service]
    #: Read with get, list or watch.
    readers: frozenset[Service]

    @property
    def subjects(self) -> str:
        """The subjects JetStream keeps the bucket on (NATS's naming, not ours)."""
        return f"$KV.{self.name}.>"


@dataclass(frozen=True)
class Stream:
    """A JetStream stream: which channels it stores and who manages or reads it."""

    name: str
    summary: str
    subjects: tuple[str, ...]
    channels: tuple[str, ...]
    #: Create or update the stream's configuration at start-up (``ensure_stream``).
    managers: frozenset[Service]
    #: Replay or tail it through consumers.
    readers: frozenset[Service]


@dataclass(frozen=True)
class MicroService:
    """A nats.micro service: named endpoints (channels) plus the standard discovery subjects."""

    name: str
    version: str
    queue_group: str
    served_by: Service
    endpoints: tuple[str, ...]

    @property
    def discovery_subjects(self) -> tuple[str, ...]:
        """``$SRV.<verb>``, ``$SRV.<verb>.<name>`` and ``$SRV.<verb>.<name>.<id>`` (any id)."""
        found: list[str] = []
        for verb in ServiceVerb:
            found.append(str(control_subject(verb)))
            found.append(str(control_subject(verb, self.name)))
            found.append(str(control_subject(verb, self.name, "*")))
        return tuple(found)


def _services(*members: Service) -> frozenset[Service]:
    return frozenset(members)


GATEWAY, AGENT, KNOWLEDGE, ADMIN, CONSUMER = (
    Service.GATEWAY,
    Service.AGENT,
    Service.KNOWLEDGE,
    Service.ADMIN,
    Service.CONSUMER,
)

CALL_ID = Parameter("call_id", "The call (Twilio's CallSid, or a simulator's id).")
#: On a call's live subjects (audio and control) the token also says the ownership epoch.
LIVE_CALL_ID = Parameter(
    "call_id",
    "The call (Twilio's CallSid, or a simulator's id); `<call_id>-e<epoch>` once the call "
    "has moved to another agent (epoch 2, 3, …), so a lost agent's output reaches nobody.",
)
BUSINESS_ID = Parameter("business_id", "The business (tenant) the call belongs to.")
AGENT_ID = Parameter("agent_id", "The agent process.")
EVENT_TYPE = Parameter(
    "event_type", "The event's `type` field.", enum=tuple(typing.get_args(EventType))
)

CALLER_AUDIO = AudioPayload(
    name="CallerAudio",
    summary="Caller audio: raw G.711 μ-law, 8 kHz, as Twilio sent it.",
    description=(
        "The payload is the μ-law bytes and nothing else (one byte per sample, "
        f"{audio.SAMPLE_RATE} Hz; Twilio sends {audio.FRAME_MS} ms = {audio.FRAME_BYTES} bytes "
        "per frame). Never JSON, never base64."
    ),
    header_size=0,
    layout=(("ulaw", "μ-law samples, to the end of the payload"),),
)
AGENT_AUDIO = AudioPayload(
    name="AgentAudioChunk",
    summary="One chunk of agent audio: a 5-byte header, then raw G.711 μ-law at 8 kHz.",
    description=(
        f"Header ({audio.CHUNK_HEADER_SIZE} bytes, big-endian): the format version (uint8, "
        f"currently {audio.AGENT_CHUNK_VERSION}) and the chunk sequence number (uint32). The "
        "gateway names the Twilio mark after the sequence number, so the agent learns which "
        "chunk the caller heard. A chunk of another version is dropped."
    ),
    header_size=audio.CHUNK_HEADER_SIZE,
    layout=(
        ("version", f"uint8, {audio.AGENT_CHUNK_VERSION}"),
        ("seq", "uint32 big-endian, the chunk's sequence number"),
        ("ulaw", "μ-law samples, to the end of the payload"),
    ),
)

CHANNELS: tuple[Channel, ...] = (
    Channel(
        id="agentDispatch",
        template=subjects.AGENT_DISPATCH,
        summary="A gateway offers a call to the agent pool (when it has heard no agent with "
        "room); the agent that accepts owns it.",
        publishers=_services(GATEWAY),
        subscribers=_services(AGENT),
        requests=(Request(CallOffer, (CallOfferReply,)),),
        queue_group=subjects.AGENT_QUEUE_GROUP,
    ),
    Channel(
        id="agentOffer",
        template=subjects.AGENT_OFFER,
        summary="A gateway offers a call (new, or a resume off a lost agent) by name to one "
        "agent it hears beating with room, so an offer cannot land on a hung agent that is "
        "still in the pool's queue group.",
        parameters=(AGENT_ID,),
        publishers=_services(GATEWAY),
        subscribers=_services(AGENT),
        requests=(Request(CallOffer, (CallOfferReply,)),),
    ),
    Channel(
        id="gatewayReconnect",
        template=subjects.GATEWAY_RECONNECT,
        summary="An agent whose call lost its media stream asks any gateway to bring the call "
        "back on a new one through Twilio's REST API.",
        publishers=_services(AGENT),
        subscribers=_services(GATEWAY),
        requests=(Request(ReconnectCall, (ReconnectReply,)),),
        queue_group=subjects.GATEWAY_QUEUE_GROUP,
    ),
    Channel(
        id="agentHeartbeat",
        template=subjects.AGENT_HEARTBEAT,
        summary="An agent process is alive; gateways end the calls of an agent that goes quiet.",
        parameters=(AGENT_ID,),
        publishers=_services(AGENT),
        subscribers=_services(GATEWAY),
        messages=(AgentHeartbeat,),
        filters=(subjects.AGENT_HEARTBEATS,),
    ),
    Channel(
        id="callerAudio",
        template=subjects.CALLER_AUDIO,
        summary="The caller's audio, gateway to the agent that owns the call.",
        parameters=(LIVE_CALL_ID,),
        publishers=_services(GATEWAY),
        subscribers=_services(AGENT),
        audio=CALLER_AUDIO,
    ),
    Channel(
        id="agentAudio",
        template=subjects.AGENT_AUDIO,
        summary="The agent's audio, agent to the gateway that holds the call's media stream.",
        parameters=(LIVE_CALL_ID,),
        publishers=_services(AGENT),
        subscribers=_services(GATEWAY),
        audio=AGENT_AUDIO,
    ),
    Channel(
        id="agentControl",
        template=subjects.AGENT_CONTROL,
        summary="Call lifecycle and caller events for the agent that owns the call, and how "
        "the transfers it asked for ended.",
        parameters=(LIVE_CALL_ID,),
        publishers=_services(GATEWAY),
        subscribers=_services(AGENT),
        messages=(CallStarted, CallerDtmf, PlaybackIdle, CallEnded, TransferOutcome),
    ),
    Channel(
        id="gatewayControl",
        template=subjects.GATEWAY_CONTROL,
        summary="Commands for the gateway that holds the call's media stream.",
        parameters=(LIVE_CALL_ID,),
        publishers=_services(AGENT),
        subscribers=_services(GATEWAY),
        messages=(HangUp, TransferCall),
        requests=(Request(ClearPlayback, (PlaybackPosition,)),),
    ),
    Channel(
        id="transcript",
        template=subjects.TRANSCRIPT,
        summary="What is said on a call and the tools run, as it happens (not stored).",
        parameters=(BUSINESS_ID, CALL_ID),
        publishers=_services(AGENT),
        subscribers=_services(CONSUMER),
        messages=(TranscriptEvent, ToolCallEvent),
        filters=(subjects.BUSINESS_TRANSCRIPTS, subjects.TRANSCRIPTS),
    ),
    Channel(
        id="callerMessages",
        template=subjects.CALLER_MESSAGES,
        summary="Messages callers left for a business (the `take_message` tool).",
        parameters=(BUSINESS_ID,),
        publishers=_services(AGENT),
        subscribers=_services(CONSUMER),
        messages=(CallerMessage,),
    ),
    Channel(
        id="callEvents",
        template=subjects.CALL_EVENT,
        summary="The durable record of every call, in order (docs/events.md). The agent that "
        "owns a call writes its events; a gateway writes only the last one, `call_ended`, of a "
        "call whose agent was lost with no other to take it over.",
        parameters=(BUSINESS_ID, CALL_ID, EVENT_TYPE),
        publishers=_services(AGENT, GATEWAY),
        subscribers=_services(GATEWAY, ADMIN, CONSUMER),
        messages=tuple(EVENT_MODELS.values()),
        headers=(
            Header(
                MSG_ID_HEADER,
                "`<call_id>:<seq>`: JetStream stores a retried publish once.",
            ),
        ),
        stream=STREAM_NAME,
        filters=(
            subjects.BUSINESS_CALL_EVENTS,
            subjects.BUSINESS_EVENTS,
            subjects.CALL_EVENTS,
            subjects.ALL_EVENTS,
        ),
    ),
    Channel(
        id="knowledgeQuery",
        template=subjects.KNOWLEDGE_QUERY,
        summary="Search a business's knowledge by meaning.",
        publishers=_services(AGENT, GATEWAY, ADMIN),  # gateway: the console's "try a question"
        subscribers=_services(KNOWLEDGE),
        requests=(
            Request(
                knowledge.KnowledgeQuery,
                (knowledge.KnowledgeQueryReply,),
                knowledge.KnowledgeErrorCode,
            ),
        ),
        queue_group=knowledge.QUEUE_GROUP,
    ),
    Channel(
        id="knowledgeIngest",
        template=subjects.KNOWLEDGE_INGEST,
        summary="Add or replace one document of a business.",
        publishers=_services(ADMIN),
        subscribers=_services(KNOWLEDGE),
        requests=(
            Request(
                knowledge.IngestRequest, (knowledge.IngestReply,), knowledge.KnowledgeErrorCode
            ),
        ),
        queue_group=knowledge.QUEUE_GROUP,
    ),
    Channel(
        id="knowledgeDelete",
        template=subjects.KNOWLEDGE_DELETE,
        summary="Delete one document of a business.",
        publishers=_services(ADMIN),
        subscribers=_services(KNOWLEDGE),
        requests=(
            Request(
                knowledge.DeleteRequest, (knowledge.DeleteReply,), knowledge.KnowledgeErrorCode
            ),
        ),
        queue_group=knowledge.QUEUE_GROUP,
    ),
    Channel(
        id="knowledgeList",
        template=subjects.KNOWLEDGE_LIST,
        summary="List the documents of a business.",
        publishers=_services(ADMIN),
        subscribers=_services(KNOWLEDGE),
        requests=(
            Request(knowledge.ListRequest, (knowledge.ListReply,), knowledge.KnowledgeErrorCode),
        ),
        queue_group=knowledge.QUEUE_GROUP,
    ),
)

#: Every service seeds the business buckets at start-up (``open_directory``) and watches
#: ``sb_businesses``; the gateway's admin API and the CLI also write them.
_BUSINESS_USERS = _services(GATEWAY, AGENT, KNOWLEDGE, ADMIN)

KV_BUCKETS: tuple[KeyValueBucket, ...] = (
    KeyValueBucket(
        name=subjects.CALLS_BUCKET,
        summary="One record per live call, kept outside any one process.",
        key="The call id.",
        value=CallRecord,
        value_description="The call's record (JSON); owner changes are revision-checked.",
        writers=_services(GATEWAY, AGENT),
        readers=_services(GATEWAY, AGENT),
    ),
    KeyValueBucket(
        name=subjects.BUSINESSES_BUCKET,
        summary="Business configurations, watched live by every service.",
        key="The business id.",
        value=BusinessProfile,
        value_description="The business's profile (JSON); writes are revision-checked.",
        writers=_BUSINESS_USERS,
        readers=_BUSINESS_USERS,
    ),
    KeyValueBucket(
        name=subjects.BUSINESS_NUMBERS_BUCKET,
        summary="Which business owns each phone number (one owner per number).",
        key="The number's E.164 digits, without '+'.",
        value=None,
        value_description="The owning business id, as plain text.",
        writers=_BUSINESS_USERS,
        readers=_BUSINESS_USERS,
    ),
    KeyValueBucket(
        name=subjects.CONSOLE_LOGINS_BUCKET,
        summary="Who may sign in to the web console (served by the gateway), and to what.",
        key="The login name.",
        value=ConsoleLogin,
        value_description="The login (JSON): its business, or none for a platform admin, and "
        "a scrypt hash of its password.",
        writers=_services(GATEWAY),
        readers=_services(GATEWAY),
    ),
    KeyValueBucket(
        name=subjects.CONSOLE_SESSIONS_BUCKET,
        summary="The console's open sessions: signing out ends one on every gateway at once.",
        key="The session id (random, carried in the signed session cookie).",
        value=None,
        value_description="The session's login name, as plain text; the bucket's TTL is the "
        "session's lifetime.",
        writers=_services(GATEWAY),
        readers=_services(GATEWAY),
    ),
    KeyValueBucket(
        name=subjects.CONSOLE_FAILURES_BUCKET,
        summary="Recent failed console sign-ins, counted once for every gateway replica.",
        key="A hash of the login name (any typed name is a valid key; none is stored).",
        value=None,
        value_description="The failures' times (JSON list of Unix seconds); the bucket's TTL "
        "is the throttle's window.",
        writers=_services(GATEWAY),
        readers=_services(GATEWAY),
    ),
)

STREAMS: tuple[Stream, ...] = (
    Stream(
        name=STREAM_NAME,
        summary="Every event of every call, kept for the retention (file storage).",
        subjects=(subjects.ALL_EVENTS,),
        channels=("callEvents",),
        managers=_services(GATEWAY, AGENT),
        # The agent reads a call's events back when it takes over a call whose agent was lost.
        readers=_services(GATEWAY, AGENT, ADMIN, CONSUMER),
    ),
)

MICRO_SERVICES: tuple[MicroService, ...] = (
    MicroService(
        name=knowledge.SERVICE_NAME,
        version=knowledge.SERVICE_VERSION,
        queue_group=knowledge.QUEUE_GROUP,
        served_by=KNOWLEDGE,
        endpoints=("knowledgeQuery", "knowledgeIngest", "knowledgeDelete", "knowledgeList"),
    ),
)


@dataclass(frozen=True)
class Catalog:
    """The whole bus: channels, key-value buckets, streams and nats.micro services."""

    channels: tuple[Channel, ...] = CHANNELS
    kv_buckets: tuple[KeyValueBucket, ...] = KV_BUCKETS
    streams: tuple[Stream, ...] = STREAMS
    micro_services: tuple[MicroService, ...] = MICRO_SERVICES
    _by_id: dict[str, Channel] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id = {channel.id: channel for channel in self.channels}
        if len(by_id) != len(self.channels):
            raise ValueError("channel ids must be unique")
        for stream in self.streams:
            for channel_id in stream.channels:
                if by_id[channel_id].stream != stream.name:
                    raise ValueError(f"{channel_id} is not marked as stored in {stream.name}")
        for service in self.micro_services:
            for channel_id in service.endpoints:
                if by_id[channel_id].queue_group != service.queue_group:
                    raise ValueError(f"{channel_id} is not in {service.name}'s queue group")
        object.__setattr__(self, "_by_id", by_id)

    def channel(self, channel_id: str) -> Channel:
        return self._by_id[channel_id]

    def models(self) -> tuple[type[BaseModel], ...]:
        """Every pydantic model on the bus or in a bucket, in declaration order."""
        found: list[type[BaseModel]] = []
        for channel in self.channels:
            found.extend(channel.payload_models)
        found.extend(bucket.value for bucket in self.kv_buckets if bucket.value is not None)
        return tuple(dict.fromkeys(found))


CATALOG = Catalog()
