"""An agent that accepts a new call after the gateway gave up on it (it stalled longer than
the offer's timeout, then answered) must not talk to the caller: the gateway has given the
call to another agent, and both sessions listen on the call's first-epoch subjects. The
stream's start names the agent the gateway streams to; any other lets go before it says a
word."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from switchboard_common import subjects
from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.event_stream import by_type, read_call
from switchboard_common.events import CallStartedEvent
from switchboard_common.messages import AgentHeartbeat, CallOffer, CallOfferReply
from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.stack import LocalStack

from .call_probes import events_to_the_end
from .conftest import REALTIME_SCRIPT, SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(90)

LATE = "agent-late"
OWNER = "agent-owner"


@pytest.fixture
async def system() -> AsyncIterator[RunningStack]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        # One call at most: once the late agent holds the call, the gateway cannot offer it
        # to it again (by name or through the pool), as it would not after a timeout.
        await stack.start_agent(LATE, AGENT_MAX_CALLS="1")
        await stack.start_agent(OWNER)
        gateway = await stack.start_gateway("gw-late")
        yield RunningStack(stack, gateway)


async def _beats_until(nc: Client, agent_id: str, active_calls: int) -> None:
    """Wait (bounded) for a heartbeat of ``agent_id`` reporting ``active_calls``."""
    seen = asyncio.Event()

    async def note(msg: Msg) -> None:
        if AgentHeartbeat.model_validate_json(msg.data).active_calls == active_calls:
            seen.set()

    sub = await nc.subscribe(subjects.agent_heartbeat(agent_id), cb=note)
    try:
        async with asyncio.timeout(15):
            await seen.wait()
    finally:
        await sub.unsubscribe()


async def test_an_agent_that_accepted_too_late_lets_go_without_a_word(
    system: RunningStack,
) -> None:
    stack = system.stack
    config = system.call_config()
    # The late accept, as it lands: the offer (which the gateway has stopped waiting for)
    # reaches the agent by name and it takes the call.
    nc = await nats.connect(stack.nats_url)
    try:
        offer = CallOffer(
            call_id=config.call_sid,
            business_id=DEMO_BUSINESS.business_id,
            gateway_id="gw-late",
            from_number=config.from_number,
            to_number=config.to_number,
        )
        msg = await nc.request(subjects.agent_offer(LATE), offer.to_bytes(), timeout=5)
        assert CallOfferReply.model_validate_json(msg.data).accepted
        await _beats_until(nc, LATE, 1)  # full: the gateway hears it too

        # The gateway's own offer for this call goes to the other agent, which answers the
        # caller.
        scenario = scenario_dict(
            [
                {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
                {"hangup": True, "after": "agent_done"},
            ]
        )
        result = await CallSimulator(config).run(Scenario.from_dict(scenario, base_dir=SAMPLES))
        assert result.ok, result.summary()
        # The late agent frees its slot rather than sitting on the call.
        await _beats_until(nc, LATE, 0)
    finally:
        await nc.close()

    events = await events_to_the_end(stack.nats_url, config.call_sid)
    started = by_type(events, CallStartedEvent)
    assert [e.agent_id for e in started] == [OWNER]
    async with httpx.AsyncClient() as http:
        sessions = (await http.get(f"{stack.realtime_url}/_sim/sessions")).json()
    speaking = [s for s in sessions if s["responses"]]
    # One voice: the owner's greeting and answer; the late agent's session never responded.
    assert len(speaking) == 1, [len(s["responses"]) for s in sessions]
    assert all(not s["connected"] for s in sessions if not s["responses"])


async def test_a_call_the_gateway_gave_up_on_is_let_go_without_waiting_for_its_stream(
    system: RunningStack,
) -> None:
    """Every agent the gateway tried was late, so it told the caller nobody could take the
    call; the late agent's accept reaches nobody and no stream will ever come. The call's
    record does not name it (there is none), so it lets go after the confirmation wait (5 s)
    rather than holding a Realtime session and a slot for the start timeout (30 s)."""
    stack = system.stack
    call_id = system.call_config().call_sid
    nc = await nats.connect(stack.nats_url)
    try:
        offer = CallOffer(
            call_id=call_id,
            business_id=DEMO_BUSINESS.business_id,
            gateway_id="gw-late",
            from_number="+15550001111",
            to_number=DEMO_BUSINESS.phone_numbers[0],
        )
        msg = await nc.request(subjects.agent_offer(LATE), offer.to_bytes(), timeout=5)
        assert CallOfferReply.model_validate_json(msg.data).accepted
        await _beats_until(nc, LATE, 1)
        await _beats_until(nc, LATE, 0)  # within 15 s: well before the 30 s start timeout
        assert await read_call(nc.jetstream(), call_id) == []  # nothing written about it
    finally:
        await nc.close()
    async with httpx.AsyncClient() as http:
        sessions = (await http.get(f"{stack.realtime_url}/_sim/sessions")).json()
    assert sessions, "the agent warmed a Realtime session for the call"
    assert all(not s["responses"] and not s["connected"] for s in sessions), sessions


async def test_an_offer_repeated_to_the_agent_holding_the_call_is_accepted_again(
    system: RunningStack,
) -> None:
    """The same offer twice (the gateway asking once more after this agent's late answer, or
    Twilio retrying its webhook) gets the same answer; refusing it ("already taken") would
    leave the caller with nobody while this agent holds the call."""
    offer = CallOffer(
        call_id=system.call_config().call_sid,
        business_id=DEMO_BUSINESS.business_id,
        gateway_id="gw-late",
    )
    nc = await nats.connect(system.stack.nats_url)
    try:
        for _ in range(2):
            msg = await nc.request(subjects.agent_offer(OWNER), offer.to_bytes(), timeout=5)
            reply = CallOfferReply.model_validate_json(msg.data)
            assert (reply.accepted, reply.agent_id) == (True, OWNER), reply
        await _beats_until(nc, OWNER, 1)  # one call held, not two
    finally:
        await nc.close()


@pytest.fixture
async def lone_agent() -> AsyncIterator[RunningStack]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        await stack.start_agent("agent-alone")
        gateway = await stack.start_gateway("gw-lone")
        yield RunningStack(stack, gateway)


async def test_a_lone_agent_that_stalls_past_the_offer_timeout_still_answers(
    lone_agent: RunningStack,
) -> None:
    """The only agent stalls (SIGSTOP) as a call comes in: the gateway's offer by name times
    out and it asks the pool. When the agent runs again it takes the first offer (its answer
    reaches nobody) and is asked again through the pool: it accepts again, and the caller is
    answered (before, it refused the call it held, and the caller heard that nobody could
    take the call)."""
    stack = lone_agent.stack
    agent = next(c for c in stack.children if c.name == "agent-alone")
    config = lone_agent.call_config()
    asked_the_pool = asyncio.Event()

    async def note(msg: Msg) -> None:
        if CallOffer.model_validate_json(msg.data).call_id == config.call_sid:
            asked_the_pool.set()

    nc = await nats.connect(stack.nats_url)
    try:
        await nc.subscribe(subjects.AGENT_DISPATCH, cb=note)
        await nc.flush()
        scenario = scenario_dict(
            [
                {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
                {"hangup": True, "after": "agent_done"},
            ]
        )
        os.kill(agent.pid, signal.SIGSTOP)
        try:
            call = asyncio.create_task(
                CallSimulator(config).run(Scenario.from_dict(scenario, base_dir=SAMPLES))
            )
            async with asyncio.timeout(15):
                await asked_the_pool.wait()  # the offer by name timed out
        finally:
            os.kill(agent.pid, signal.SIGCONT)
        result = await call
        assert result.ok, result.summary()
    finally:
        await nc.close()
    events = await events_to_the_end(stack.nats_url, config.call_sid)
    assert [e.agent_id for e in by_type(events, CallStartedEvent)] == ["agent-alone"]
