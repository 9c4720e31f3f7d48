"""The agent running a call is killed mid-answer (SIGKILL, as the OOM killer does) while
another agent is free: the call moves to it with its conversation, and the caller hears a
short pause, not an apology (issue 11, item 1)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator

import httpx
import nats
import pytest
from nats.aio.msg import Msg

from switchboard_common import subjects
from switchboard_common.event_stream import by_type
from switchboard_common.events import (
    CallEndedEvent,
    CallerTurnEvent,
    CallResumedEvent,
    CallStartedEvent,
)
from switchboard_common.messages import CallOffer, CallRecord, CallState
from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.call.heard import longest_quiet_around
from switchboard_sim.stack import LocalStack

from .call_probes import call_record, events_to_the_end, record_when, session_answering
from .conftest import REALTIME_SCRIPT, SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)

#: Target: the caller hears at most this much silence from the kill to the new agent's voice.
MAX_SILENCE_S = 1.5
#: The start of the scripted answer to the caller's second turn (the one the kill cuts).
ANSWER_START = "Of course. I've passed your message on"


def _streaming(record: CallRecord) -> bool:
    return record.state == CallState.STREAMING


def _taken_at_2(record: CallRecord) -> bool:
    return record.epoch == 2 and record.agent_id is not None


@pytest.fixture
async def system() -> AsyncIterator[RunningStack]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        await stack.start_agent("agent-first")
        gateway = await stack.start_gateway("gw-takeover")
        yield RunningStack(stack, gateway)


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
    first = await record_when(stack.nats_url, config.call_sid, _streaming, "streaming")
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

    record = await call_record(stack.nats_url, result.call_sid)
    assert (record.state, record.agent_id, record.epoch) == (
        CallState.ENDED,
        "agent-second",
        2,
    )


async def test_a_frozen_agent_s_call_moves_and_the_agent_lets_go_when_it_wakes(
    system: RunningStack,
) -> None:
    """SIGSTOP (a hung process, a stalled VM) looks like death from outside: the call moves.
    When the old agent runs again it still thinks it owns the call; nothing it sends reaches
    the caller any more (the call's subjects moved with the epoch), and it finds out from the
    record that it lost the call and lets go, writing nothing more of the call's story."""
    scenario = scenario_dict(
        [
            {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
            {"say": "Could you take a message?", "wav": "turn2_message.wav"},
            {"hangup": True, "after": "agent_done"},
        ],
        quiet_ms=int(MAX_SILENCE_S * 1000) + 2500,
    )
    config = system.call_config(record=True)
    caller = CallSimulator(config)
    call = asyncio.create_task(caller.run(Scenario.from_dict(scenario, base_dir=SAMPLES)))
    stack = system.stack
    await record_when(stack.nats_url, config.call_sid, _streaming, "streaming")
    frozen = next(c for c in stack.children if c.name == "agent-first")
    await stack.start_agent("agent-second")

    async with httpx.AsyncClient() as http, offers_seen(stack.nats_url) as offers:
        first_session = await session_answering(http, stack.realtime_url, 4, into_ms=500)
        os.kill(frozen.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            moved = await record_when(
                stack.nats_url,
                config.call_sid,
                lambda r: r.epoch == 2 and bool(r.agent_id),
                "epoch 2",
            )
        finally:
            os.kill(frozen.pid, signal.SIGCONT)
        assert moved.agent_id == "agent-second"
        result = await call
        # The woken agent closes its own Realtime session once it has let go (bounded).
        async with asyncio.timeout(10):
            while True:
                sessions = (await http.get(f"{stack.realtime_url}/_sim/sessions")).json()
                old = next(s for s in sessions if s["id"] == first_session)
                if not old["connected"]:
                    break
                await asyncio.sleep(0.1)

    assert result.ok, result.summary()
    assert result.recording is not None
    silence = longest_quiet_around(result.recording, stopped_at - caller.clock.t0)
    print(f"caller silence around the agent's freeze: {silence:.2f} s")
    assert silence <= MAX_SILENCE_S
    events = await events_to_the_end(stack.nats_url, result.call_sid)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    (ended,) = by_type(events, CallEndedEvent)
    assert ended.reason == "caller_hung_up" and ended is events[-1]
    resumed = by_type(events, CallResumedEvent)
    assert [r.agent_id for r in resumed] == ["agent-second"]
    assert frozen.running, "the old agent lets go of the call, it does not die"
    # The hung agent is still in the pool's queue group: the move offered the call by name to
    # the agent heard beating, never to the pool (where a try may land on the hung agent).
    resumes = [subject for subject, offer in offers if offer.resume]
    assert resumes == [subjects.agent_offer("agent-second")], resumes


@contextlib.asynccontextmanager
async def offers_seen(nats_url: str) -> AsyncIterator[list[tuple[str, CallOffer]]]:
    """Every call offer published while the block runs: to the pool and to agents by name
    (a plain subscriber sees them all without joining the queue group)."""
    seen: list[tuple[str, CallOffer]] = []

    async def note(msg: Msg) -> None:
        seen.append((msg.subject, CallOffer.model_validate_json(msg.data)))

    nc = await nats.connect(nats_url)
    try:
        await nc.subscribe(subjects.AGENT_DISPATCH, cb=note)
        await nc.subscribe(subjects.AGENT_OFFER.format(agent_id="*"), cb=note)
        await nc.flush()
        yield seen
    finally:
        await nc.close()
