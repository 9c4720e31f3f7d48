"""The Realtime link drops while the agent is answering: the new session gets the
conversation as the caller heard it (the cut reply, not the whole generated text) and answers
again at once, so the caller hears a short pause, not dead air (issue 14, item 1)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from switchboard_agent.resume import CUT_MARK
from switchboard_common.event_stream import by_type
from switchboard_common.events import AgentTurnEvent, CallEndedEvent
from switchboard_gateway.twilio.twiml import AGENT_LOST_SAY
from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.call.heard import longest_quiet_around
from switchboard_sim.stack import LocalStack

from .call_probes import events_to_the_end, session_answering
from .conftest import REALTIME_SCRIPT, SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)

#: Target: the caller hears at most this much silence after the drop.
MAX_SILENCE_S = 1.5
#: The answer being dropped: the scripted reply to the caller's second turn.
ANSWER = (
    "Of course. I've passed your message on to the manager, who will call you back at five "
    "five five, zero one zero zero as soon as they can. Is there anything else?"
)
ANSWER_START = ANSWER[:40]


@pytest.fixture
async def system() -> AsyncIterator[RunningStack]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        # A short outage window: the test of the apology waits out no more than that.
        await stack.start_agent("agent-rr", AGENT_REALTIME_OUTAGE_WINDOW_S="1.5")
        gateway = await stack.start_gateway("gw-rr")
        yield RunningStack(stack, gateway)


async def test_a_drop_mid_answer_is_answered_again_from_what_was_heard(
    system: RunningStack,
) -> None:
    scenario = scenario_dict(
        [
            {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
            {"say": "Could you take a message?", "wav": "turn2_message.wav"},
            {"hangup": True, "after": "agent_done"},
        ],
        # The caller waits out more silence than the target before hanging up, so a missing
        # answer shows as silence rather than as a caller who left.
        quiet_ms=int(MAX_SILENCE_S * 1000) + 1500,
    )
    config = system.call_config(record=True)
    caller = CallSimulator(config)
    call = asyncio.create_task(caller.run(Scenario.from_dict(scenario, base_dir=SAMPLES)))
    base = system.stack.realtime_url
    async with httpx.AsyncClient() as http:
        # Greeting, turn 1's tool call and its answer, turn 2's tool call: then its answer.
        first = await session_answering(http, base, answered=4)
        dropped_at = time.monotonic()
        assert (await http.get(f"{base}/_sim/sessions/{first}/drop")).status_code == 200
        result = await call
        sessions = (await http.get(f"{base}/_sim/sessions")).json()

    assert result.ok, result.summary()
    assert result.recording is not None
    silence = longest_quiet_around(result.recording, dropped_at - caller.clock.t0)
    assert silence <= MAX_SILENCE_S, f"{silence:.2f} s of silence after the drop"

    second = next(s for s in sessions if s["id"] != first)
    replayed = [e for e in second["control_events"] if e["type"] == "conversation.item.create"]
    said = [
        part["text"]
        for e in replayed
        if e["item"].get("role") == "assistant"
        for part in e["item"]["content"]
    ]
    cut = [text for text in said if text.startswith(ANSWER_START[:10])]
    assert len(cut) == 1, f"the cut reply was not replayed: {said}"
    assert cut[0].endswith(CUT_MARK), cut[0]
    assert ANSWER_START.startswith(cut[0].removesuffix(CUT_MARK)) or ANSWER.startswith(
        cut[0].removesuffix(CUT_MARK)
    )
    assert len(cut[0]) < len(ANSWER) / 2, "the replay holds words the caller never heard"
    assert second["responses"], "the new session was never asked to answer"
    assert ANSWER_START in second["responses"][0]["output"][0]["content"][0]["transcript"]

    events = await events_to_the_end(system.stack.nats_url, result.call_sid)
    turns = by_type(events, AgentTurnEvent)
    interrupted = [t for t in turns if t.interrupted]
    assert len(interrupted) == 1 and interrupted[0].played_ms is not None
    assert interrupted[0].played_ms < interrupted[0].produced_ms
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


#: Bound on how long the caller may sit in silence once the model cannot be reached again
#: (two re-open attempts, 0.2 s and 0.5 s apart, then the apology).
MAX_DEAD_AIR_S = 3.0


async def test_a_model_that_cannot_be_reached_again_ends_in_the_apology_not_dead_air(
    system: RunningStack,
) -> None:
    scenario = scenario_dict(
        [
            {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
            {"hangup": True, "after": "agent_done"},
        ],
        agent_timeout_s=20,
    )
    caller = CallSimulator(system.call_config())
    call = asyncio.create_task(caller.run(Scenario.from_dict(scenario, base_dir=SAMPLES)))
    base = system.stack.realtime_url
    async with httpx.AsyncClient() as http:
        await session_answering(http, base, answered=0)  # the greeting is streaming
    simulator = next(c for c in system.stack.children if c.name == "realtime-sim")
    await simulator.kill()
    killed_at = time.monotonic()
    result = await call
    ended_at = time.monotonic()

    assert result.closed_by == "gateway"
    assert result.said_after_close == [AGENT_LOST_SAY]  # the caller is told, then hung up
    assert ended_at - killed_at <= MAX_DEAD_AIR_S, f"{ended_at - killed_at:.2f} s of dead air"
    events = await events_to_the_end(system.stack.nats_url, result.call_sid)
    ended = by_type(events, CallEndedEvent)
    assert len(ended) == 1 and ended[0].reason == "realtime_lost"


#: Target: the caller hears our holding line within this of the model going away.
MAX_SILENCE_BEFORE_HOLDING_S = 1.5
#: How long the provider is away (within the agent's default 10 s outage window).
OUTAGE_S = 3.0


async def test_a_model_away_for_seconds_is_waited_out_with_our_holding_line() -> None:
    """The provider restarts (its process is killed and back 3 s later): the caller hears our
    holding line within 1.5 s instead of dead air, and the call carries on with the new
    session, which answers the question the outage cut."""
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        await stack.start_agent("agent-outage")
        gateway = await stack.start_gateway("gw-outage")
        system = RunningStack(stack, gateway)
        scenario = scenario_dict(
            [
                {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
                {"say": "Could you take a message?", "wav": "turn2_message.wav"},
                {"hangup": True, "after": "agent_done"},
            ],
            quiet_ms=2500,
            agent_timeout_s=20,
        )
        caller = CallSimulator(system.call_config(record=True))
        call = asyncio.create_task(caller.run(Scenario.from_dict(scenario, base_dir=SAMPLES)))
        port = str(urlsplit(stack.realtime_url).port)
        async with httpx.AsyncClient() as http:
            await session_answering(http, stack.realtime_url, answered=4, into_ms=500)
        simulator = next(c for c in stack.children if c.name == "realtime-sim")
        await simulator.kill()
        killed_at = time.monotonic()
        await asyncio.sleep(OUTAGE_S)  # the outage itself: what is measured is around it
        await stack.start_realtime_sim(script=REALTIME_SCRIPT, extra=["--port", port])
        result = await call
        events = await events_to_the_end(stack.nats_url, result.call_sid)

    assert result.ok, result.summary()
    assert result.recording is not None
    silence = longest_quiet_around(result.recording, killed_at - caller.clock.t0)
    print(f"caller silence after the model went away: {silence:.2f} s")
    assert silence <= MAX_SILENCE_BEFORE_HOLDING_S, f"{silence:.2f} s before the holding line"
    (ended,) = by_type(events, CallEndedEvent)
    assert ended.reason == "caller_hung_up"
