"""The gateway carrying a call is killed (SIGKILL) mid-answer: the call comes back on a new
stream through another gateway, to the same agent and Realtime session, and carries on
(issue 11, item 3)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Literal

import httpx
import pytest

from switchboard_common.event_stream import by_type
from switchboard_common.events import CallEndedEvent, CallerTurnEvent, CallStartedEvent
from switchboard_common.messages import CallState, EndReason
from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.call.heard import longest_quiet_around
from switchboard_sim.stack import Child, LocalStack

from .call_probes import call_record, events_to_the_end, session_answering
from .conftest import REALTIME_SCRIPT, SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)

#: Target: the caller hears at most this much silence from the gateway's death.
MAX_SILENCE_S = 3.0


@pytest.fixture
async def two_gateways() -> AsyncIterator[tuple[RunningStack, Child]]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        await stack.start_twilio_rest()
        await stack.start_agent("agent-re")
        first = await stack.start_gateway("gw-first")
        second = await stack.start_gateway("gw-second")
        yield RunningStack(stack, first), second


@pytest.mark.parametrize(
    ("twilio_does", "path"),
    [("action", "action"), ("wait", "rest")],
    ids=["twilio-calls-the-action-url", "no-callback-so-the-agent-asks-for-a-rest-redirect"],
)
async def test_a_killed_gateway_s_call_comes_back_on_a_new_stream(
    two_gateways: tuple[RunningStack, Child], twilio_does: Literal["action", "wait"], path: str
) -> None:
    """Twilio usually requests the <Connect action> URL when the stream breaks; where it does
    not, the agent notices the caller's audio stopped and has a gateway redirect the call
    through the REST API."""
    system, second = two_gateways
    scenario = scenario_dict(
        [
            {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
            {"say": "Could you take a message?", "wav": "turn2_message.wav"},
            {"hangup": True, "after": "agent_done"},
        ],
        quiet_ms=int(MAX_SILENCE_S * 1000) + 1500,
    )
    config = system.call_config(record=True, stream_lost=twilio_does)
    caller = CallSimulator(config)
    call = asyncio.create_task(caller.run(Scenario.from_dict(scenario, base_dir=SAMPLES)))
    async with httpx.AsyncClient() as http:
        session = await session_answering(http, system.stack.realtime_url, 4, into_ms=1000)
        # The load balancer in front of the gateways sends new requests to the healthy one
        # (the open stream stays on the first, until it dies).
        caller.config.gateway_url = second.announced
        killed_at = time.monotonic()
        await system.gateway.kill()
        result = await call
        sessions = (await http.get(f"{system.stack.realtime_url}/_sim/sessions")).json()

    assert result.ok, result.summary()
    assert (result.streams, result.reentries) == (2, [path])
    assert result.closed_by == "caller"
    assert result.recording is not None
    silence = longest_quiet_around(result.recording, killed_at - caller.clock.t0)
    print(f"caller silence around the gateway's kill ({path}): {silence:.2f} s")
    assert silence <= MAX_SILENCE_S, f"{silence:.2f} s of silence after the kill"
    assert [s["id"] for s in sessions] == [session], "the agent kept its one Realtime session"

    events = await events_to_the_end(system.stack.nats_url, result.call_sid)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len(by_type(events, CallStartedEvent)) == 1
    (ended,) = by_type(events, CallEndedEvent)
    assert ended.reason == "caller_hung_up"
    assert ended.caller_turns == len(by_type(events, CallerTurnEvent)) == 2


async def test_a_call_that_cannot_come_back_is_closed_with_gateway_lost() -> None:
    """No callback from Twilio and no gateway able to redirect the call (no REST
    credentials): the agent ends the call by itself, writes why, closes its record and frees
    its Realtime session and slot within the media timeout."""
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        await stack.start_agent("agent-alone", AGENT_MEDIA_TIMEOUT_S="4")
        gateway = await stack.start_gateway("gw-only")
        system = RunningStack(stack, gateway)
        scenario = scenario_dict(
            [
                {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
                {"hangup": True, "after": "agent_done"},
            ]
        )
        config = system.call_config(stream_lost="wait", lost_wait_s=2.0)
        call = asyncio.create_task(
            CallSimulator(config).run(Scenario.from_dict(scenario, base_dir=SAMPLES))
        )
        async with httpx.AsyncClient() as http:
            session = await session_answering(http, stack.realtime_url, 2, into_ms=500)
            killed_at = time.monotonic()
            await gateway.kill()
            result = await call
            async with asyncio.timeout(15):
                while True:
                    sessions = (await http.get(f"{stack.realtime_url}/_sim/sessions")).json()
                    if not next(s for s in sessions if s["id"] == session)["connected"]:
                        break
                    await asyncio.sleep(0.1)
            closed_after = time.monotonic() - killed_at

        assert not result.ok and "nothing brought the call back" in " ".join(result.errors)
        print(f"Realtime session closed {closed_after:.1f} s after the gateway died")
        assert closed_after <= 10.0
        events = await events_to_the_end(stack.nats_url, config.call_sid)
        (ended,) = by_type(events, CallEndedEvent)
        assert ended.reason == "gateway_lost" and ended is events[-1]
        record = await call_record(stack.nats_url, config.call_sid)
        assert (record.state, record.ended_reason) == (CallState.ENDED, EndReason.GATEWAY_LOST)
