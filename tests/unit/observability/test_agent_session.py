"""The agent's call session updates its latency metrics and spans where the events happen:
a barge-in against a real gateway responder on NATS, and a turn's first audio."""

from __future__ import annotations

from typing import Any, cast

from nats.aio.client import Client
from nats.aio.msg import Msg
from openai.types.realtime import (
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
)
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from switchboard_agent.realtime.link import AudioDelta
from switchboard_agent.session import CallSession
from switchboard_agent.settings import AgentSettings
from switchboard_agent.tools import ToolRegistry
from switchboard_common import subjects, tracing
from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.messages import CallOffer, PlaybackPosition


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def _session(nc: Client, call_id: str) -> CallSession:
    offer = CallOffer(call_id=call_id, business_id=DEMO_BUSINESS.business_id, gateway_id="gw")
    return CallSession(
        offer, DEMO_BUSINESS, AgentSettings(agent_id="agent-t"), nc, cast(Any, None), ToolRegistry()
    )


async def test_a_barge_in_times_the_clear_and_carries_the_trace_to_the_gateway(
    nc: Client, spans: InMemorySpanExporter
) -> None:
    call_id = "CAbarge1"
    clears: list[Msg] = []

    async def gateway(msg: Msg) -> None:
        clears.append(msg)
        position = PlaybackPosition(call_id=call_id, last_chunk=0, ms_since_mark=5, chunks_sent=1)
        await msg.respond(position.to_bytes())

    sub = await nc.subscribe(subjects.gateway_control(call_id), cb=gateway)
    session = _session(nc, call_id)
    session._ledger.record("item_a", 160)  # agent audio is playing
    latency_before = _sample("switchboard_agent_barge_in_latency_seconds_count")
    barge_ins_before = _sample("switchboard_agent_barge_ins_total")
    started = InputAudioBufferSpeechStartedEvent(
        type="input_audio_buffer.speech_started", event_id="e1", audio_start_ms=0, item_id="u1"
    )
    try:
        with tracing.tracer().start_as_current_span("agent.call"):
            await session.handle(started)
    finally:
        await sub.unsubscribe()

    assert _sample("switchboard_agent_barge_ins_total") == barge_ins_before + 1
    assert _sample("switchboard_agent_barge_in_latency_seconds_count") == latency_before + 1
    (clear,) = clears
    finished = {span.name: span for span in spans.get_finished_spans()}
    barge_in = finished["agent.barge_in"]
    assert barge_in.context is not None and barge_in.parent is not None
    assert barge_in.parent.span_id == finished["agent.call"].context.span_id  # type: ignore[union-attr]
    gateway_side = trace.get_current_span(tracing.extract_context(clear)).get_span_context()
    assert gateway_side.span_id == barge_in.context.span_id
    assert tracing.call_id_of(clear) is None  # no call scope in this test: nothing invented


async def test_a_turn_is_timed_and_spanned_from_end_of_speech_to_first_audio(
    nc: Client, spans: InMemorySpanExporter
) -> None:
    session = _session(nc, "CAturn1")
    turns_before = _sample("switchboard_agent_turn_latency_seconds_count")
    frames_before = _sample("switchboard_agent_frames_out_total")
    stopped = InputAudioBufferSpeechStoppedEvent(
        type="input_audio_buffer.speech_stopped", event_id="e2", audio_end_ms=900, item_id="u2"
    )
    with tracing.tracer().start_as_current_span("agent.call") as call:
        session._trace.call_span = call
        await session.handle(stopped)
        assert _sample("switchboard_agent_turn_latency_seconds_count") == turns_before
        await session.handle(AudioDelta(response_id="r1", item_id="item_b", audio=b"\xff" * 160))
        await session.handle(AudioDelta(response_id="r1", item_id="item_b", audio=b"\xff" * 160))

    assert _sample("switchboard_agent_turn_latency_seconds_count") == turns_before + 1
    assert _sample("switchboard_agent_frames_out_total") == frames_before + 2
    (turn,) = [span for span in spans.get_finished_spans() if span.name == "agent.turn"]
    assert turn.parent is not None
    assert turn.parent.span_id == call.get_span_context().span_id
    assert turn.attributes is not None and "turn.unanswered" not in turn.attributes
