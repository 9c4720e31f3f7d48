"""The Realtime connection drops mid-call: the agent reconnects, replays the conversation so
far into the new session, and the call goes on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.stack import LocalStack

from .conftest import REALTIME_SCRIPT, SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def system() -> AsyncIterator[RunningStack]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        await stack.start_agent("agent-rc")
        gateway = await stack.start_gateway("gw-rc")
        yield RunningStack(stack, gateway)


async def _greeted_session(http: httpx.AsyncClient, base: str) -> str:
    """The id of the call's Realtime session once its greeting has been generated (polled:
    the simulator's introspection API is the only view of it)."""
    for _ in range(200):
        sessions: list[dict[str, Any]] = (await http.get(f"{base}/_sim/sessions")).json()
        done = [s for s in sessions if s["responses"]]
        if done:
            return str(done[0]["id"])
        await asyncio.sleep(0.05)
    raise AssertionError("the greeting was never generated")


async def test_a_dropped_realtime_connection_is_reconnected_with_the_conversation(
    system: RunningStack,
) -> None:
    scenario = scenario_dict(
        [
            {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
            {"hangup": True, "after": "agent_done"},
        ]
    )
    call = asyncio.create_task(
        CallSimulator(system.call_config()).run(Scenario.from_dict(scenario, base_dir=SAMPLES))
    )
    base = system.stack.realtime_url
    async with httpx.AsyncClient() as http:
        first = await _greeted_session(http, base)
        assert (await http.get(f"{base}/_sim/sessions/{first}/drop")).status_code == 200
        result = await call
        sessions = (await http.get(f"{base}/_sim/sessions")).json()

    assert result.ok, result.summary()
    assert result.latencies, "the caller's question after the drop was answered"
    assert len(sessions) == 2
    second = next(s for s in sessions if s["id"] != first)
    replayed = [e for e in second["control_events"] if e.get("type") == "conversation.item.create"]
    assert any("Bella" in json.dumps(e) and "assistant" in json.dumps(e) for e in replayed)
    assert second["errors_sent"] == []


@pytest.fixture(params=[pytest.param("6", id="rollover"), pytest.param("1000", id="expiry")])
async def capped_system(request: pytest.FixtureRequest) -> AsyncIterator[RunningStack]:
    """The simulator enforces a 14 s session cap; the agent rolls over after 6 s, or (the
    ``expiry`` case) too late, so the cap cuts the session mid-call."""
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT, extra=["--max-session-s", "14"])
        await stack.start_agent("agent-roll", AGENT_REALTIME_SESSION_ROLLOVER_S=request.param)
        gateway = await stack.start_gateway("gw-roll")
        yield RunningStack(stack, gateway)


async def test_the_session_outlives_the_cap(
    capped_system: RunningStack, request: pytest.FixtureRequest
) -> None:
    """Rolled over in time, the cap is never hit; hit anyway (mid-sentence here: the cap
    falls inside the second question), the reconnect replays the utterance and nothing is
    lost. Either way every question is answered."""
    scenario = scenario_dict(
        [
            {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
            {"say": "Sorry, one more thing.", "wav": "turn3_one_more_thing.wav"},
            {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
            {"hangup": True, "after": "agent_done"},
        ]
    )
    result = await CallSimulator(capped_system.call_config()).run(
        Scenario.from_dict(scenario, base_dir=SAMPLES)
    )
    async with httpx.AsyncClient() as http:
        sessions = (await http.get(f"{capped_system.stack.realtime_url}/_sim/sessions")).json()

    assert result.ok, result.summary()
    assert result.duration_s > 14, "the call must outlast the cap for the test to mean anything"
    assert len(sessions) >= 2, "the call never moved to a new session"
    expired = [e for s in sessions for e in s["errors_sent"] if e.get("code") == "session_expired"]
    if request.node.callspec.id == "rollover":
        assert expired == [], "the cap was hit: the rollover came too late"
    else:
        assert expired, "the cap should have cut the session"
    assert len(result.latencies) == 3
