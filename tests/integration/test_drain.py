"""Drain on SIGTERM, in the real processes: readiness turns false, no new calls are taken, the
running call finishes (or is hung up at the drain deadline), then the process exits 0."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.errors import NoRespondersError

from switchboard_common import subjects
from switchboard_common.messages import AgentHeartbeat, CallOffer, CallState
from switchboard_sim.call import CallResult, CallSimulator, Scenario, twilio_signature
from switchboard_sim.stack import Child, LocalStack, free_port

from .conftest import REALTIME_SCRIPT, SCENARIO, RunningStack
from .test_agent_failure import _record_when

pytestmark = pytest.mark.timeout(120)


@dataclass
class DrainStack:
    system: RunningStack
    agent: Child
    agent_ops_url: str
    nc: Client


async def _start(agent_drain_s: str) -> AsyncIterator[DrainStack]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        ops_port = free_port()
        agent = await stack.start_agent(
            "ag-drain",
            AGENT_METRICS_PORT=str(ops_port),
            SWITCHBOARD_DRAIN_TIMEOUT_S=agent_drain_s,
        )
        gateway = await stack.start_gateway("gw-drain", SWITCHBOARD_DRAIN_TIMEOUT_S="60")
        nc = await nats.connect(stack.nats_url)
        try:
            yield DrainStack(
                RunningStack(stack, gateway), agent, f"http://127.0.0.1:{ops_port}", nc
            )
        finally:
            await nc.close()


@pytest.fixture
async def patient() -> AsyncIterator[DrainStack]:
    """Drain deadlines long enough for a whole call."""
    async for drain_stack in _start("60"):
        yield drain_stack


@pytest.fixture
async def hurried() -> AsyncIterator[DrainStack]:
    """An agent whose drain deadline is shorter than the call."""
    async for drain_stack in _start("1"):
        yield drain_stack


async def _status(http: httpx.AsyncClient, url: str) -> int:
    return (await http.get(url)).status_code


async def _until_status(http: httpx.AsyncClient, url: str, status: int) -> None:
    """Readiness flips on the signal, asynchronously: poll it (bounded) as a kubelet does."""
    for _ in range(100):
        if await _status(http, url) == status:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"{url} never answered {status}")


async def _draining_beat(nc: Client, agent_id: str) -> AgentHeartbeat:
    """The agent's first heartbeat that says it is draining (bounded: one sent before the
    drain began may still be on its way)."""
    sub = await nc.subscribe(subjects.agent_heartbeat(agent_id))
    try:
        async with asyncio.timeout(5):
            while not (
                beat := AgentHeartbeat.model_validate_json((await sub.next_msg()).data)
            ).draining:
                pass
    finally:
        await sub.unsubscribe()
    return beat


async def test_sigterm_lets_the_running_call_finish_and_takes_no_new_one(
    patient: DrainStack,
) -> None:
    system, nc = patient.system, patient.nc
    async with httpx.AsyncClient(timeout=5) as http:
        assert await _status(http, f"{patient.agent_ops_url}/readyz") == 200
        assert await _status(http, f"{system.gateway_url}/readyz") == 200
        assert (
            "switchboard_agent_active_calls"
            in (await http.get(f"{patient.agent_ops_url}/metrics")).text
        )

        config = system.call_config()
        call: asyncio.Task[CallResult] = asyncio.create_task(
            CallSimulator(config).run(Scenario.load(SCENARIO))
        )
        record = await _record_when(nc, config.call_sid, CallState.STREAMING)
        assert record.agent_id == "ag-drain"

        agent_exit = asyncio.create_task(patient.agent.stop(signal.SIGTERM, timeout_s=90))
        gateway_exit = asyncio.create_task(system.gateway.stop(signal.SIGTERM, timeout_s=90))

        await _until_status(http, f"{patient.agent_ops_url}/readyz", 503)
        await _until_status(http, f"{system.gateway_url}/readyz", 503)
        # Its heartbeats say so: gateways stop offering it calls by name, the console shows it.
        beat = await _draining_beat(nc, "ag-drain")
        assert beat.room == 0 and beat.active_calls == 1, beat
        assert await _status(http, f"{patient.agent_ops_url}/healthz") == 200

        # No new call: the gateway sends Twilio to its fallback, and no agent takes an offer.
        params = {"CallSid": "CA" + "7" * 32, "From": "+1555", "To": "+15550100"}
        voice_url = f"{system.stack.public_base_url}/twilio/voice"
        refused = await http.post(
            f"{system.gateway_url}/twilio/voice",
            data=params,
            headers={
                "X-Twilio-Signature": twilio_signature(system.stack.auth_token, voice_url, params)
            },
        )
        assert refused.status_code == 503
        offer = CallOffer(
            call_id="CA" + "8" * 32, business_id="bellas-bistro", gateway_id="gw-test"
        )
        with pytest.raises(NoRespondersError):
            await nc.request(subjects.AGENT_DISPATCH, offer.to_bytes(), timeout=2)

        result = await call
        assert result.ok, result.summary()
        assert result.closed_by == "caller"
        assert len(result.latencies) >= 3  # every turn of the scenario was answered

        assert await agent_exit == 0, patient.agent.log_tail()
        assert await gateway_exit == 0, system.gateway.log_tail()


async def test_the_drain_deadline_hangs_up_a_call_that_runs_over(hurried: DrainStack) -> None:
    system, nc = hurried.system, hurried.nc
    config = system.call_config()
    call = asyncio.create_task(CallSimulator(config).run(Scenario.load(SCENARIO)))
    await _record_when(nc, config.call_sid, CallState.STREAMING)

    loop = asyncio.get_running_loop()
    signalled_at = loop.time()
    assert await hurried.agent.stop(signal.SIGTERM, timeout_s=30) == 0, hurried.agent.log_tail()
    assert loop.time() - signalled_at < 10  # 1 s deadline, then a prompt exit

    ended = await _record_when(nc, config.call_sid, CallState.ENDED)
    assert ended.ended_reason == "agent_hung_up"
    result = await call
    assert result.closed_by == "gateway"  # the gateway ended the stream, as Twilio sees it


async def test_knowledge_service_answers_in_flight_work_and_exits_cleanly() -> None:
    async with LocalStack() as stack:
        await stack.start_nats()
        knowledge = await stack.start_knowledge("kn-drain", SWITCHBOARD_DRAIN_TIMEOUT_S="5")
        async with httpx.AsyncClient(timeout=5) as http:
            ready = await http.get(f"{knowledge.announced}/readyz")
            assert ready.status_code == 200 and ready.json()["ready"] is True
        assert await knowledge.stop(signal.SIGTERM, timeout_s=30) == 0, knowledge.log_tail()
        assert "draining" in knowledge.log_path.read_text()
