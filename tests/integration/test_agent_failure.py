"""An agent process dying mid-call: the gateway ends that call cleanly and keeps serving others.
And a dead dependency (no knowledge service here) is an error the model hears, not a crash."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client

from switchboard_common import subjects
from switchboard_common.messages import CallRecord, CallState, ToolCallEvent
from switchboard_gateway.twilio.twiml import AGENT_LOST_SAY
from switchboard_sim.call import CallResult, CallSimulator, Scenario
from switchboard_sim.stack import Child, LocalStack

from .conftest import REALTIME_SCRIPT, SCENARIO, RunningStack

pytestmark = pytest.mark.timeout(120)

FAST_BEATS = {"AGENT_HEARTBEAT_INTERVAL_S": "0.2", "AGENT_MAX_CALLS": "1"}


@pytest.fixture
async def two_agents() -> AsyncIterator[tuple[RunningStack, dict[str, Child], Client]]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        agents = {name: await stack.start_agent(name, **FAST_BEATS) for name in ("ag-a", "ag-b")}
        gateway = await stack.start_gateway("gw-failover")
        nc = await nats.connect(stack.nats_url)
        try:
            yield RunningStack(stack, gateway), agents, nc
        finally:
            await nc.close()


async def _record_when(nc: Client, call_id: str, state: CallState) -> CallRecord:
    """The call's record once it reaches ``state`` (watched, not polled)."""
    kv = await nc.jetstream().key_value(subjects.CALLS_BUCKET)
    watcher = await kv.watch(call_id)
    try:
        async with asyncio.timeout(20):
            async for entry in watcher:
                if entry is None or not entry.value:
                    continue
                record = CallRecord.model_validate_json(entry.value)
                if record.state == state:
                    return record
    finally:
        await watcher.stop()
    raise AssertionError(f"call {call_id} never reached {state}")


async def test_killed_agent_ends_its_call_and_spares_the_other(
    two_agents: tuple[RunningStack, dict[str, Child], Client],
) -> None:
    system, agents, nc = two_agents
    scenario = Scenario.load(SCENARIO)
    first_config = system.call_config()
    second_config = system.call_config()
    first: asyncio.Task[CallResult] = asyncio.create_task(CallSimulator(first_config).run(scenario))
    first_record = await _record_when(nc, first_config.call_sid, CallState.STREAMING)
    second = asyncio.create_task(CallSimulator(second_config).run(scenario))
    second_record = await _record_when(nc, second_config.call_sid, CallState.STREAMING)
    assert {first_record.agent_id, second_record.agent_id} == set(agents)

    victim = agents[first_record.agent_id or ""]
    await victim.kill()

    ended = await _record_when(nc, first_config.call_sid, CallState.ENDED)
    assert ended.ended_reason == "agent_lost"
    lost = await first
    assert lost.closed_by == "gateway"
    assert lost.close_code == 1011
    assert lost.said_after_close == [AGENT_LOST_SAY]  # Twilio went on to the apology

    survivor = await second
    assert survivor.ok, survivor.summary()
    assert survivor.closed_by == "caller"
    assert len(survivor.latencies) >= 3
    # This stack has no knowledge service: the tool's failure was told to the model as an
    # error result, and the call went on.
    knowledge = [
        e
        for e in survivor.transcript
        if isinstance(e, ToolCallEvent) and e.name == "query_knowledge_base"
    ]
    assert knowledge and not knowledge[0].ok
    assert "unavailable" in knowledge[0].output
