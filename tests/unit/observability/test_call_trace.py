"""One call, one trace, through the real in-process pieces on a real NATS: the gateway's
offer, the media stream, the agent's barge-in and tool call, and the knowledge service."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from nats.aio.client import Client
from nats.aio.msg import Msg
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from starlette.websockets import WebSocketState

from switchboard_agent.tools.knowledge import query_knowledge_base
from switchboard_agent.tools.registry import ToolContext
from switchboard_common import subjects, tracing
from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.knowledge import KnowledgeHit, KnowledgeQuery, KnowledgeQueryReply
from switchboard_common.messages import (
    CallOffer,
    CallOfferReply,
    CallRecord,
    EndReason,
)
from switchboard_gateway.calls.dispatch import Dispatcher, stream_trace_parameters
from switchboard_gateway.stream import MediaStreamSession
from switchboard_knowledge.bus import KnowledgeBus


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def _by_name(spans: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans.get_finished_spans()}


def _parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def _trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


class FakeWebSocket:
    """Just enough of Starlette's websocket for a stream session that is not read from."""

    application_state = WebSocketState.CONNECTED

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.application_state = WebSocketState.DISCONNECTED


class FakeRecords:
    def __init__(self) -> None:
        self.saved: list[CallRecord] = []

    async def put(self, record: CallRecord) -> None:
        self.saved.append(record)

    async def change(self, fallback: CallRecord, **changes: object) -> None:
        self.saved.append(fallback.model_copy(update=changes))


class GatewaySettingsStub:
    gateway_id = "gw-test"
    mark_interval_ms = 100


class GatewayContextStub:
    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.settings = GatewaySettingsStub()
        self.sessions: dict[str, MediaStreamSession] = {}
        self.records = FakeRecords()


def _start_message(call_id: str, parameters: dict[str, str]) -> dict[str, Any]:
    return {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": "MZ" + "a" * 32,
        "start": {
            "streamSid": "MZ" + "a" * 32,
            "callSid": call_id,
            "accountSid": "AC" + "c" * 32,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }


async def _offer_answered_by_a_test_agent(
    nc: Client, call_id: str
) -> tuple[CallOfferReply | None, dict[str, str], list[Msg]]:
    """The real dispatcher, answered by a stand-in agent; returns what the webhook would put
    in its TwiML, computed in the same task right after the offer (as voice.py does)."""
    offers: list[Msg] = []

    async def agent(msg: Msg) -> None:
        offers.append(msg)
        reply = CallOfferReply(call_id=call_id, accepted=True, agent_id="agent-t")
        await msg.respond(reply.to_bytes())

    sub = await nc.subscribe(subjects.AGENT_DISPATCH, cb=agent)
    try:
        reply = await Dispatcher(nc, timeout_s=2, attempts=1).offer(
            CallOffer(call_id=call_id, business_id="demo", gateway_id="gw-test")
        )
        parameters = stream_trace_parameters()
    finally:
        await sub.unsubscribe()
    return reply, parameters, offers


async def test_the_offer_starts_the_call_trace_and_the_media_stream_joins_it(
    nc: Client, spans: InMemorySpanExporter
) -> None:
    call_id = "CAtrace1"
    reply, parameters, offers = await _offer_answered_by_a_test_agent(nc, call_id)
    assert reply is not None and reply.agent_id == "agent-t"
    (offer_msg,) = offers
    offer_span = _by_name(spans)["call.offer"]
    assert offer_span.parent is None  # the call's root
    assert offer_msg.headers is not None
    assert tracing.call_id_of(offer_msg) == call_id
    agent_side = trace.get_current_span(tracing.extract_context(offer_msg)).get_span_context()
    assert agent_side.trace_id == _trace_id(offer_span)
    assert parameters["traceparent"] == offer_msg.headers["traceparent"]

    # Twilio hands the parameters back in the stream's start message.
    control: asyncio.Queue[Msg] = asyncio.Queue()

    async def agent_control(msg: Msg) -> None:
        control.put_nowait(msg)

    sub = await nc.subscribe(subjects.agent_control(call_id), cb=agent_control)
    active_before = _sample("switchboard_gateway_active_calls")
    dropped_before = _sample("switchboard_gateway_frames_dropped_total", {"why": "ended"})
    ctx = GatewayContextStub(nc)
    session = MediaStreamSession(cast(Any, FakeWebSocket()), cast(Any, ctx))
    start_params = {"call_id": call_id, "business_id": "demo", "agent_id": "agent-t"}
    await session._handle(json.dumps(_start_message(call_id, {**start_params, **parameters})))
    assert _sample("switchboard_gateway_active_calls") == active_before + 1
    await session.end(EndReason.CALLER_HUNG_UP)
    delivered = [await asyncio.wait_for(control.get(), 2) for _ in range(2)]
    # An agent chunk arriving after the end is counted as dropped, not played.
    late = cast(Msg, type("M", (), {"data": b"\x01\x00\x00\x00\x07" + b"\xff" * 160})())
    await session._on_agent_audio(late)
    await sub.unsubscribe()

    assert _sample("switchboard_gateway_active_calls") == active_before
    assert (
        _sample("switchboard_gateway_frames_dropped_total", {"why": "ended"}) == dropped_before + 1
    )
    stream_span = _by_name(spans)["gateway.media_stream"]
    assert _trace_id(stream_span) == _trace_id(offer_span)
    assert _parent_of(stream_span) == _span_id(offer_span)
    assert stream_span.attributes is not None
    assert stream_span.attributes["call.end_reason"] == EndReason.CALLER_HUNG_UP.value
    # Control messages (CallStarted, CallEnded) carry the stream's context to the agent.
    assert control.empty()
    for msg in delivered:
        context = trace.get_current_span(tracing.extract_context(msg)).get_span_context()
        assert context.trace_id == _trace_id(offer_span)
        assert context.span_id == _span_id(stream_span)


class FakeKnowledgeService:
    def __init__(self) -> None:
        self.asked: list[KnowledgeQuery] = []

    async def query(self, query: KnowledgeQuery) -> KnowledgeQueryReply:
        self.asked.append(query)
        hit = KnowledgeHit(
            chunk_id="c1",
            document_id="d1",
            source="faq.md",
            heading="Hours",
            text="Open 9 to 5.",
            score=0.9,
        )
        return KnowledgeQueryReply(hits=[hit], embed_ms=1.0, search_ms=1.0)


async def test_a_tool_call_and_the_knowledge_query_it_makes_share_the_call_trace(
    nc: Client, spans: InMemorySpanExporter
) -> None:
    service = FakeKnowledgeService()
    bus = KnowledgeBus(nc, cast(Any, service), max_concurrent=4)
    await bus.start()
    agent_before = _sample("switchboard_agent_knowledge_query_seconds_count", {"outcome": "ok"})
    service_before = _sample(
        "switchboard_knowledge_request_seconds_count", {"endpoint": "query", "outcome": "ok"}
    )
    try:
        ctx = ToolContext(call_id="CAtrace2", business=DEMO_BUSINESS, nc=nc)
        with (
            tracing.tracer().start_as_current_span("agent.call"),
            tracing.tracer().start_as_current_span("agent.tool query_knowledge_base"),
        ):
            result = await query_knowledge_base(ctx, {"query": "when are you open?"})
    finally:
        await bus.stop()

    assert result["results"][0]["text"] == "Open 9 to 5."
    assert service.asked[0].business_id == DEMO_BUSINESS.business_id
    finished = _by_name(spans)
    tool, served = finished["agent.tool query_knowledge_base"], finished["knowledge.query"]
    assert _trace_id(served) == _trace_id(finished["agent.call"])
    assert _parent_of(served) == _span_id(tool)
    assert served.attributes is not None
    assert served.attributes["business.id"] == DEMO_BUSINESS.business_id
    assert served.attributes["knowledge.outcome"] == "ok"
    assert (
        _sample("switchboard_agent_knowledge_query_seconds_count", {"outcome": "ok"})
        == agent_before + 1
    )
    assert (
        _sample(
            "switchboard_knowledge_request_seconds_count", {"endpoint": "query", "outcome": "ok"}
        )
        == service_before + 1
    )
