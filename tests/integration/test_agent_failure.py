"""An agent process dying mid-call: the gateway ends that call cleanly and keeps serving others.
And a dead dependency (no knowledge service here) is an error the model hears, not a crash."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import httpx
import nats
import pytest
from nats.aio.client import Client

from switchboard_common import subjects
from switchboard_common.event_stream import by_type
from switchboard_common.events import CallEndedEvent, CallerTurnEvent
from switchboard_common.messages import CallRecord, CallState, ToolCallEvent
from switchboard_gateway.twilio.twiml import AGENT_LOST_SAY
from switchboard_sim.call import (
    CallResult,
    CallSimulator,
    Scenario,
    TwilioMediaStream,
    parse_twiml,
    twilio_signature,
)
from switchboard_sim.call.twiml import ConnectStream
from switchboard_sim.stack import Child, LocalStack

from .call_probes import events_to_the_end
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
    # The other agent was busy, so nobody could take the call over: the gateway wrote the
    # end of its story, once, numbered after the dead agent's last event.
    events = await events_to_the_end(system.stack.nats_url, first_config.call_sid)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    (call_ended,) = by_type(events, CallEndedEvent)
    assert call_ended.reason == "agent_lost" and call_ended is events[-1]
    assert call_ended.caller_turns == len(by_type(events, CallerTurnEvent))
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


async def test_a_call_whose_audio_stops_frees_its_agent() -> None:
    """If a call's audio stops (its gateway died), the agent ends it and can take calls again."""
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        await stack.start_agent("solo", AGENT_MAX_CALLS="1", AGENT_MEDIA_TIMEOUT_S="1")
        gateway = await stack.start_gateway("gw-watchdog")
        system = RunningStack(stack, gateway)
        async with httpx.AsyncClient() as http:
            first = await _webhook(http, system, "CA" + "1" * 32)
            assert isinstance(first, ConnectStream)
            ws_url = gateway.announced.replace("http://", "ws://") + "/twilio/media"
            stream = await TwilioMediaStream.open(
                ws_url,
                auth_token=stack.auth_token,
                signed_url=first.url,
                account_sid="AC" + "1" * 32,
                call_sid="CA" + "1" * 32,
                custom_parameters=first.parameters,
            )
            await stream.send_connected()
            await stream.send_start()  # ... and then no audio at all
            busy = await _webhook(http, system, "CA" + "2" * 32)
            assert not isinstance(busy, ConnectStream), "the only agent should be busy"
            # Poll as Twilio's next caller would; the agent must free itself within seconds.
            for _ in range(40):
                again = await _webhook(http, system, "CA" + secrets.token_hex(16))
                if isinstance(again, ConnectStream):
                    break
                await asyncio.sleep(0.25)  # the next caller dialling
            else:
                pytest.fail("the agent never freed itself from the silent call")
            await stream.aclose()


async def _webhook(http: httpx.AsyncClient, system: RunningStack, call_sid: str) -> object:
    params = {
        "CallSid": call_sid,
        "AccountSid": "AC" + "1" * 32,
        "From": "+1555",
        "To": "+15550100",
    }
    url = f"{system.stack.public_base_url}/twilio/voice"
    response = await http.post(
        f"{system.gateway_url}/twilio/voice",
        data=params,
        headers={"X-Twilio-Signature": twilio_signature(system.stack.auth_token, url, params)},
    )
    assert response.status_code == 200
    return parse_twiml(response.text)[0]


async def test_with_the_bus_down_a_caller_is_refused_politely_without_retries() -> None:
    """NATS is gone: the voice webhook still answers (the polite refusal, after one offer
    timed out rather than three), and readiness says why."""
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        await stack.start_agent("ag-nobus")
        gateway = await stack.start_gateway("gw-nobus", GATEWAY_DISPATCH_TIMEOUT_S="1")
        system = RunningStack(stack, gateway)
        await stack.stop_nats()
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(f"{gateway.announced}/readyz")).status_code == 503
            answer = await _webhook(http, system, "CA" + "4" * 32)
        assert not isinstance(answer, ConnectStream)
        log = gateway.log_path.read_text()
        assert "the bus is unavailable, not retrying" in log
        assert "offer 2 timed out" not in log
