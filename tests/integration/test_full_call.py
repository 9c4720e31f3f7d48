"""A whole call through every service: greeting, a question answered from the knowledge base,
a tool call, a barge-in, stop."""

from __future__ import annotations

import nats
import pytest

from switchboard_common.event_stream import read_call
from switchboard_common.events import AgentTurnEvent, CallEndedEvent
from switchboard_common.messages import Speaker, ToolCallEvent, TranscriptEvent
from switchboard_sim.call import CallSimulator, Scenario

from .conftest import SCENARIO, RunningStack

pytestmark = pytest.mark.timeout(120)


async def test_a_full_call_with_tool_and_barge_in(system: RunningStack) -> None:
    result = await CallSimulator(system.call_config(record=True)).run(Scenario.load(SCENARIO))
    assert result.ok, result.summary()
    assert result.closed_by == "caller" and result.close_code == 1000

    # Transcripts arrived over NATS as they happened, for both speakers, in order.
    said = [(e.speaker, e.text) for e in result.transcript if isinstance(e, TranscriptEvent)]
    assert said[0][0] == Speaker.AGENT and "Bella's Bistro" in said[0][1]  # agent spoke first
    callers = [text for speaker, text in said if speaker == Speaker.CALLER]
    assert callers[:2] == [
        "Hi, what are your opening hours?",
        "Could you take a message for the manager? My name is Sam and my number is five "
        "five five, zero one zero zero.",
    ]

    # The tools ran for real and their results went back to the model: the answer to the
    # first question came from the business's own content, through the knowledge service.
    tools = [e for e in result.transcript if isinstance(e, ToolCallEvent)]
    assert [t.name for t in tools] == ["query_knowledge_base", "take_message"]
    assert all(t.ok for t in tools)
    assert "Tuesday to Sunday" in tools[0].output
    agents = [text for speaker, text in said if speaker == Speaker.AGENT]
    assert "Tuesday to Sunday" in agents[1]

    # Barge-in: Twilio was told to clear, and the model's item was truncated where the
    # caller stopped hearing it.
    assert len(result.clears) == 1
    interrupted = [e for e in result.transcript if isinstance(e, TranscriptEvent) and e.interrupted]
    assert len(interrupted) == 1

    sessions = await system.realtime_sessions()
    session = next(
        s
        for s in sessions
        if any(e.get("type") == "conversation.item.truncate" for e in s["control_events"])
    )
    assert session["errors_sent"] == []
    (truncation,) = session["truncations"]
    assert truncation["item_id"] == interrupted[0].item_id
    heard_ms = result.played_ms_at_clears[0]
    assert abs(truncation["audio_end_ms"] - heard_ms) <= 60, (truncation, heard_ms)

    # Everything the call did is in the durable stream, in order, once.
    nc = await nats.connect(system.stack.nats_url)
    try:
        events = await read_call(nc.jetstream(), result.call_sid, timeout_s=10)
    finally:
        await nc.close()
    kinds = [e.type for e in events]
    assert kinds[0] == "call_started" and kinds[-1] == "call_ended"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert kinds.count("tool_called") == 2 and kinds.count("caller_turn") == 3
    cut = [e for e in events if isinstance(e, AgentTurnEvent) and e.interrupted]
    assert len(cut) == 1 and cut[0].played_ms == truncation["audio_end_ms"]
    assert cut[0].played_ms < cut[0].produced_ms
    whole = [e for e in events if isinstance(e, AgentTurnEvent) and not e.interrupted]
    assert whole and all(e.played_ms == e.produced_ms for e in whole[:-1])
    (ended,) = [e for e in events if isinstance(e, CallEndedEvent)]
    assert ended.caller_turns == 3 and ended.agent_turns == len(cut) + len(whole)
    assert ended.reason == "caller_hung_up"

    # What the caller heard was recorded.
    assert result.recording is not None and len(result.recording) > 8000
