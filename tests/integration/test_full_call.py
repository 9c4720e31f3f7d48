"""A whole call through every service: greeting, a question answered from the knowledge base,
a tool call, a barge-in, stop."""

from __future__ import annotations

import pytest

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

    # What the caller heard was recorded.
    assert result.recording is not None and len(result.recording) > 8000
