"""The agent running a call is killed mid-answer (SIGKILL, as the OOM killer does) while
another agent is free: the call moves to it with its conversation, and the caller hears a
short pause, not an apology (issue 11, item 1)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import nats
import pytest

from switchboard_common import subjects
from switchboard_common.event_stream import by_type
from switchboard_common.events import (
    CallEndedEvent,
    CallerTurnEvent,
    CallResumedEvent,
    CallStartedEvent,
)
from switchboard_common.messages import CallRecord, CallState
from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.call.heard import longest_quiet_around
from switchboard_sim.stack import LocalStack

from .call_probes import events_to_the_end, session_answering
from .conftest import REALTIME_SCRIPT, SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)

#: Target: the caller hears at most this much silence from the kill to the new agent's voice.
MAX_SILENCE_S = 1.5
#: The start of the scripted answer to the caller's second turn (the one the kill cuts).
ANSWER_START = "Of course. I've passed your message on"


@pytest.fixture
async def system() -> AsyncIterator[RunningStack]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        await stack.start_agent("agent-first")
        gateway = await stack.start_gateway("gw-takeover")
        yield RunningStack(stack, gateway)


async def _owner(nats_url: str, call_id: str) -> CallRecord:
    """The call's record once it is streaming (watched, bounded)."""
    nc = await nats.connect(nats_url)
    try:
        kv = await nc.jetstream().key_value(subjects.CALLS_BUCKET)
        watcher = await kv.watch(call_id)
        async with asyncio.timeout(20):
            async for entry in watcher:
                if entry is not None and entry.value:
                    record = CallRecord.model_validate_json(entry.value)
                    if record.state == CallState.STREAMING:
                        await watcher.stop()
                        return record
        raise AssertionError("the call never streamed")
    finally:
        await nc.close()


async def _record(nats_url: str, call_id: str) -> CallRecord:
    nc = await nats.connect(nats_url)
    try:
        kv = await nc.jetstream().key_value(subjects.CALLS_BUCKET)
        entry = await kv.get(call_id)
        assert entry.value
        return CallRecord.model_validate_json(entry.value)
    finally:
        await nc.close()


@pytest.mark.parametrize(
    "into_answer_ms",
    [0, 1500],
    ids=["before-the-answer-is-heard", "mid-answer"],
)
async def test_a_killed_agent_s_call_moves_to_a_free_agent_with_its_conversation(
    system: RunningStack, into_answer_ms: int
) -> None:
    """Killed as its answer starts (the caller has heard nothing of it: the worst case, all
    detection and takeover), or 1.5 s of audio into it."""
    scenario = scenario_dict(
        [
            {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
            {"say": "Could you take a message?", "wav": "turn2_message.wav"},
            {"hangup": True, "after": "agent_done"},
        ],
        # The caller waits out more silence than the target, so a missing answer shows as
        # silence rather than as a caller who left.
        quiet_ms=int(MAX_SILENCE_S * 1000) + 2500,
    )
    config = system.call_config(record=True)
    caller = CallSimulator(config)
    call = asyncio.create_task(caller.run(Scenario.from_dict(scenario, base_dir=SAMPLES)))
    stack = system.stack
    first = await _owner(stack.nats_url, config.call_sid)
    assert first.agent_id == "agent-first" and first.epoch == 1
    victim = next(c for c in stack.children if c.name == "agent-first")
    await stack.start_agent("agent-second")  # free, in the pool, before the crash

    async with httpx.AsyncClient() as http:
        # Greeting, turn 1's tool call and its answer, turn 2's tool call: then its answer.
        first_session = await session_answering(http, stack.realtime_url, 4, into_ms=into_answer_ms)
        await victim.kill()
        killed_at = time.monotonic()
        result = await call
        sessions = (await http.get(f"{stack.realtime_url}/_sim/sessions")).json()

    assert result.ok, result.summary()
    assert result.closed_by == "caller", "the call should go on to the caller's goodbye"
    assert result.recording is not None
    silence = longest_quiet_around(result.recording, killed_at - caller.clock.t0)
    print(f"caller silence around the agent's kill: {silence:.2f} s")
    assert silence <= MAX_SILENCE_S, f"{silence:.2f} s of silence after the kill"

    # The new agent's session was given the conversation, and answered the cut turn.
    second = next(s for s in sessions if s["id"] != first_session)
    replayed = [
        part.get("text", "")
        for e in second["control_events"]
        if e["type"] == "conversation.item.create" and e["item"].get("type") == "message"
        for part in e["item"]["content"]
    ]
    assert "Hi, what are your opening hours?" in replayed, replayed
    assert any(text.startswith("Could you take a message") for text in replayed), replayed
    assert second["responses"], "the new agent never answered"
    assert ANSWER_START in second["responses"][0]["output"][0]["content"][0]["transcript"]

    # One story: every event once, in order, the takeover recorded, one ending.
    events = await events_to_the_end(stack.nats_url, result.call_sid)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len(by_type(events, CallStartedEvent)) == 1
    (resumed,) = by_type(events, CallResumedEvent)
    assert (resumed.agent_id, resumed.previous_agent_id, resumed.epoch) == (
        "agent-second",
        "agent-first",
        2,
    )
    (ended,) = by_type(events, CallEndedEvent)
    assert ended.reason == "caller_hung_up"
    assert ended.caller_turns == len(by_type(events, CallerTurnEvent)) == 2
    assert ended.duration_s >= (events[-1].at - events[0].at).total_seconds() - 0.5

    record = await _record(stack.nats_url, result.call_sid)
    assert (record.state, record.agent_id, record.epoch) == (
        CallState.ENDED,
        "agent-second",
        2,
    )
