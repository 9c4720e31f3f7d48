"""Integration fixtures: the real system as processes — nats-server with JetStream, the
Realtime simulator, agents and the gateway — on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchboard_sim.call import CallConfig
from switchboard_sim.demo import seed_knowledge
from switchboard_sim.stack import Child, LocalStack

SAMPLES = Path(__file__).resolve().parents[2] / "simulators" / "samples"
REALTIME_SCRIPT = SAMPLES / "opening_hours.realtime.json"
SCENARIO = SAMPLES / "opening_hours.json"


class RunningStack:
    """A started stack plus the handles tests need."""

    def __init__(self, stack: LocalStack, gateway: Child) -> None:
        self.stack = stack
        self.gateway = gateway

    @property
    def gateway_url(self) -> str:
        return self.gateway.announced

    def call_config(self, **overrides: Any) -> CallConfig:
        config = CallConfig(
            gateway_url=self.gateway_url,
            public_base_url=self.stack.public_base_url,
            auth_token=self.stack.auth_token,
            nats_url=self.stack.nats_url,
            max_call_s=90.0,
            account_sid=self.stack.account_sid,
            rest_api=self.stack.twilio_rest,
        )
        for key, value in overrides.items():
            setattr(config, key, value)
        return config

    async def realtime_sessions(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{self.stack.realtime_url}/_sim/sessions")
            response.raise_for_status()
            sessions: list[dict[str, Any]] = response.json()
            return sessions

    async def metrics(self) -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{self.gateway_url}/metrics")).text


@pytest.fixture(scope="module")
async def system() -> AsyncIterator[RunningStack]:
    """The knowledge service (seeded), one agent and one gateway, shared by a module's tests
    that do not kill anything. Not wider: a stack kept for a later module would run idle
    through every module between (the leak guard fails that)."""
    async with LocalStack() as stack:
        await stack.start_nats()
        yield await start_services(stack, "agent-main", "gateway-main")


async def start_services(
    stack: LocalStack,
    agent: str,
    gateway: str,
    knowledge_env: dict[str, str] | None = None,
    call_path_env: dict[str, str] | None = None,
) -> RunningStack:
    """On a stack whose bus is up: the Realtime simulator, Twilio's REST stand-in, the
    knowledge service with the sample content, one agent and one gateway (the last two with
    ``call_path_env``)."""
    await stack.start_realtime_sim(script=REALTIME_SCRIPT)
    await stack.start_twilio_rest()
    await stack.start_knowledge(**(knowledge_env or {}))
    await seed_knowledge(stack.nats_url, SAMPLES / "knowledge")
    await stack.start_agent(agent, **(call_path_env or {}))
    return RunningStack(stack, await stack.start_gateway(gateway, **(call_path_env or {})))


def scenario_dict(turns: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    base = json.loads(SCENARIO.read_text())
    base.update(extra)
    base["turns"] = turns
    return base
