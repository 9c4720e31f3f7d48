"""The bus is a cluster: losing the NATS node that the gateway and the agent are connected to
costs a call at most half a second of dead air and loses none of its events; a single server
away for 5 s hangs up no call and loses nothing durable.

Dead air is measured from what the simulated caller heard, turn by turn, against a call with
no fault on the same stack: the wait from the end of the caller's speech to the agent's first
audio (turn latency) plus the times playback ran dry inside a reply before more of it came.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import nats
import pytest
from nats.aio.client import Client

from switchboard_common import subjects
from switchboard_common.bus import BUS_UNAVAILABLE
from switchboard_common.event_stream import follow, read_call
from switchboard_common.events import STREAM_NAME, AnyCallEvent, CallEndedEvent, call_events
from switchboard_sim.call import CallResult, CallSimulator, Scenario
from switchboard_sim.stack import HARNESS_USER, LocalStack, nats_servers

from .conftest import SCENARIO, RunningStack, start_services

pytestmark = pytest.mark.timeout(240)

#: The most dead air a node kill may add to any turn of a call.
NODE_KILL_BUDGET_S = 0.5
REPLICATED = {"JETSTREAM_REPLICAS": "3", "EVENTS_REPLICAS": "3"}


def dead_air_by_turn(result: CallResult) -> dict[int, float]:
    """Seconds the caller waited for the agent in each turn: the turn's latency (its end of
    speech to the first reply audio) plus the stalls inside the reply."""
    air: dict[int, float] = {}
    for latency in result.latencies:
        air[latency.turn] = air.get(latency.turn, 0.0) + latency.latency_ms / 1000
    for turn, stall in result.playback_stalls:
        air[turn] = air.get(turn, 0.0) + stall
    return air


def added_dead_air(faulty: CallResult, baseline: CallResult) -> dict[int, float]:
    """Per turn, the dead air the fault added to the same call without it."""
    have, base = dead_air_by_turn(faulty), dead_air_by_turn(baseline)
    return {turn: have[turn] - base.get(turn, 0.0) for turn in sorted(have)}


async def call_events_when_ended(nc: Client, call_id: str) -> list[AnyCallEvent]:
    """The call's stored events, once its call_ended is stored (followed, not polled)."""
    js = nc.jetstream()
    async with asyncio.timeout(60):
        while True:  # a read may time out while the stream's new leader is being elected
            try:
                async with follow(js, call_events(call_id), from_start=True) as tail:
                    async for event in tail:
                        if isinstance(event, CallEndedEvent):
                            break
                return await read_call(js, call_id, timeout_s=10)
            except BUS_UNAVAILABLE:
                continue


def assert_complete(events: list[AnyCallEvent], like: list[AnyCallEvent]) -> None:
    """``seq`` 1..N, no gap, no duplicate, and the same events as the fault-free call."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events] == [e.type for e in like]


class Turns:
    """Follows a call's log lines: set when the caller starts a given turn."""

    def __init__(self, turn: int) -> None:
        self.started = asyncio.Event()
        self._needle = f"turn {turn}: caller says"

    def __call__(self, line: str) -> None:
        if self._needle in line:
            self.started.set()


async def run_call(
    system: RunningStack, scenario: Scenario, fault_at_turn: int, fault: Callable[[], object]
) -> CallResult:
    """Place a call; as the caller finishes speaking turn ``fault_at_turn`` (the moment a
    stalled bus delays the reply the most), run ``fault``."""
    turns = Turns(fault_at_turn)
    simulator = CallSimulator(system.call_config(log=turns))
    call = asyncio.create_task(simulator.run(scenario))
    async with asyncio.timeout(60):
        await turns.started.wait()
    stream = simulator.stream
    assert stream is not None
    await stream.wait_until(lambda: not stream.speaking, 30)
    done = fault()
    if asyncio.iscoroutine(done):
        await done
    return await call


async def test_killing_the_node_of_the_gateway_and_the_agent(
    record_property: Callable[[str, object], None],
) -> None:
    async with LocalStack() as stack:
        await stack.start_nats_cluster(3)
        victim = stack.nats_nodes[0]
        pinned = {**stack.nats_pinned_env(victim), **REPLICATED}
        system = await start_services(stack, "agent-cl", "gw-cl", REPLICATED, pinned)
        assert await stack.nats_node_of("agent-cl") is victim
        assert await stack.nats_node_of("gw-cl") is victim
        harness = await nats.connect(
            nats_servers(stack.nats_url_for(HARNESS_USER, first=stack.nats_nodes[1])),
            reconnect_time_wait=0.1,
        )
        try:
            js = harness.jetstream()
            for stream in (STREAM_NAME, f"KV_{subjects.CALLS_BUCKET}"):
                assert (await js.stream_info(stream)).config.num_replicas == 3, stream
            scenario = Scenario.load(SCENARIO)
            baseline = await CallSimulator(system.call_config()).run(scenario)
            assert baseline.ok, baseline.summary()
            base_events = await call_events_when_ended(harness, baseline.call_sid)

            result = await run_call(system, scenario, 2, lambda: stack.kill_nats_node(victim))
            added = added_dead_air(result, baseline)
            record_property("node_kill_added_dead_air_s", added)
            print(f"node kill: dead air added per turn {added}; stalls {result.playback_stalls}")
            assert result.ok, result.summary()
            assert result.closed_by == "caller"
            assert len(result.latencies) == len(baseline.latencies), "every turn answered"
            events = await call_events_when_ended(harness, result.call_sid)
            assert_complete(events, base_events)
            assert await stack.nats_node_of("agent-cl") not in (None, victim)
            assert await stack.nats_node_of("gw-cl") not in (None, victim)
            assert max(added.values()) <= NODE_KILL_BUDGET_S, added
        finally:
            await harness.close()


async def test_a_single_server_away_for_five_seconds(
    record_property: Callable[[str, object], None],
) -> None:
    async with LocalStack() as stack:
        await stack.start_nats()
        system = await start_services(stack, "agent-one", "gw-one")
        scenario = Scenario.load(SCENARIO)
        baseline = await CallSimulator(system.call_config()).run(scenario)
        assert baseline.ok, baseline.summary()

        async def outage() -> None:
            await stack.stop_nats()
            await asyncio.sleep(5.0)  # the outage itself, not a wait for anything
            await stack.restart_nats()

        result = await run_call(system, scenario, 2, outage)
        added = added_dead_air(result, baseline)
        record_property("outage_5s_added_dead_air_s", added)
        print(f"5 s outage: dead air added per turn {added}; stalls {result.playback_stalls}")
        assert result.ok, result.summary()
        assert result.closed_by == "caller", "the call was hung up"
        assert len(result.latencies) == len(baseline.latencies), "every turn answered"
        harness = await nats.connect(stack.nats_url)
        try:
            base_events = await call_events_when_ended(harness, baseline.call_sid)
            assert_complete(base_events, base_events)
            assert_complete(await call_events_when_ended(harness, result.call_sid), base_events)
        finally:
            await harness.close()
