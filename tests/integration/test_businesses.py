"""Businesses live in JetStream KV: a change through the admin API applies to the next call,
with no restart, in the gateway (which number is whose) and in the agent (what it is told)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.messages import Speaker, TranscriptEvent
from switchboard_sim.call import CallResult, CallSimulator, Scenario
from switchboard_sim.stack import Child, LocalStack

from .conftest import REALTIME_SCRIPT, SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)

ADMIN_TOKEN = "integration-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
GREET_AND_HANG_UP = scenario_dict([{"hangup": True, "after": "agent_done"}])


class BusinessesStack(RunningStack):
    def __init__(self, stack: LocalStack, gateway: Child, agent: Child) -> None:
        super().__init__(stack, gateway)
        self.agent = agent

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.gateway_url, headers=AUTH, timeout=10)

    async def call(self, to_number: str = "+15550100") -> CallResult:
        scenario = Scenario.from_dict(GREET_AND_HANG_UP, base_dir=SAMPLES)
        return await CallSimulator(self.call_config(to_number=to_number)).run(scenario)


@pytest.fixture(scope="module")
async def businesses_system() -> AsyncIterator[BusinessesStack]:
    """A stack of its own: these tests change the demo business, which others rely on."""
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        agent = await stack.start_agent("agent-businesses")
        gateway = await stack.start_gateway("gateway-businesses", GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN)
        yield BusinessesStack(stack, gateway, agent)


async def _logged(child: Child, needle: str, timeout_s: float = 10) -> None:
    """Until the process logged ``needle`` (bounded). Its log is the only signal of what
    another process's live directory holds."""
    async with asyncio.timeout(timeout_s):
        while needle not in child.log_path.read_text(errors="replace"):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def _applied(child: Child, business_id: str, revision: int) -> None:
    """Until the process's live directory uses this revision of the business."""
    await _logged(child, f"business {business_id} at revision {revision}")


def _first_agent_words(result: CallResult) -> str:
    said = [e for e in result.transcript if isinstance(e, TranscriptEvent)]
    assert said and said[0].speaker == Speaker.AGENT, result.summary()
    return said[0].text


def _session_of(sessions: list[dict[str, Any]], needle: str) -> dict[str, Any]:
    """The one Realtime session whose response.create carried ``needle``."""
    (session,) = [
        s
        for s in sessions
        if any(
            e.get("type") == "response.create" and needle in json.dumps(e.get("response"))
            for e in s["control_events"]
        )
    ]
    return session


async def test_a_greeting_changed_through_the_admin_api_is_used_on_the_next_call(
    businesses_system: BusinessesStack,
) -> None:
    system = businesses_system
    before = await system.call()
    assert before.ok, before.summary()
    assert _first_agent_words(before) == DEMO_BUSINESS.greeting

    async with system.admin() as admin:
        current = await admin.get(f"/admin/businesses/{DEMO_BUSINESS.business_id}")
        assert current.status_code == 200, current.text
        changed = current.json()["business"] | {
            "greeting": "Bella's Bistro, now open late. What can I do for you?",
            "instructions": "You answer for Bella's Bistro. Mention the late opening hours.",
            "voice": "cedar",
            "max_output_tokens": 300,
            "language": "it",
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 650},
        }
        updated = await admin.put(
            f"/admin/businesses/{DEMO_BUSINESS.business_id}",
            json=changed,
            headers={"If-Match": current.headers["ETag"]},
        )
        assert updated.status_code == 200, updated.text
    await _applied(system.agent, DEMO_BUSINESS.business_id, updated.json()["revision"])

    after = await system.call()
    assert after.ok, after.summary()
    assert _first_agent_words(after) == changed["greeting"]

    sessions = await system.realtime_sessions()
    _session_of(sessions, DEMO_BUSINESS.greeting)  # the first call: the old greeting
    session = _session_of(sessions, changed["greeting"])
    assert session["errors_sent"] == []
    (update,) = [e for e in session["control_events"] if e.get("type") == "session.update"]
    config = update["session"]
    assert config["instructions"].startswith(changed["instructions"])
    assert "Speak Italian" in config["instructions"]
    assert config["max_output_tokens"] == 300
    assert config["audio"]["output"]["voice"] == "cedar"
    assert config["audio"]["input"]["transcription"]["language"] == "it"
    turn = config["audio"]["input"]["turn_detection"]
    assert turn["type"] == "server_vad" and turn["silence_duration_ms"] == 650
    assert turn["threshold"] == 0.5  # left out of the profile: the agent's default


async def test_a_business_created_and_deleted_live_takes_and_frees_its_number(
    businesses_system: BusinessesStack,
) -> None:
    system = businesses_system
    pizza = {
        "business_id": "pizza-place",
        "name": "Pizza Place",
        "phone_numbers": ["+15550111"],
        "greeting": "Pizza Place, what would you like tonight?",
    }
    async with system.admin() as admin:
        created = await admin.post("/admin/businesses", json=pizza)
        assert created.status_code == 201, created.text
        revision = created.json()["revision"]
        await _applied(system.gateway, "pizza-place", revision)
        await _applied(system.agent, "pizza-place", revision)

        answered = await system.call(to_number="+15550111")
        assert answered.ok, answered.summary()
        assert _first_agent_words(answered) == pizza["greeting"]

        stolen = await admin.post(
            "/admin/businesses", json=pizza | {"business_id": "copycat", "name": "Copycat"}
        )
        assert stolen.status_code == 409

        deleted = await admin.delete(
            "/admin/businesses/pizza-place", headers={"If-Match": created.headers["ETag"]}
        )
        assert deleted.status_code == 204
    # The gateway's directory drops the number; the next call to it is turned away politely.
    await _logged(system.gateway, "business pizza-place removed")
    refused = await system.call(to_number="+15550111")
    assert not refused.connected and refused.twiml_hangup, refused.summary()


async def test_live_directories_and_calls_survive_a_restart_of_the_bus() -> None:
    """NATS restarts (an upgrade): every service reconnects, the live directory's watch
    resumes, and a change made afterwards applies to the next call."""
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        agent = await stack.start_agent("agent-restart")
        gateway = await stack.start_gateway("gateway-restart", GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN)
        system = BusinessesStack(stack, gateway, agent)

        await stack.restart_nats()

        async with system.admin() as admin:
            for _ in range(100):  # the gateway reconnects within its reconnect wait
                if (await admin.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            current = await admin.get(f"/admin/businesses/{DEMO_BUSINESS.business_id}")
            assert current.status_code == 200, current.text
            greeting = "Bella's Bistro, back after the bus restarted. How can I help?"
            updated = await admin.put(
                f"/admin/businesses/{DEMO_BUSINESS.business_id}",
                json=current.json()["business"] | {"greeting": greeting},
                headers={"If-Match": current.headers["ETag"]},
            )
            assert updated.status_code == 200, updated.text
        await _applied(agent, DEMO_BUSINESS.business_id, updated.json()["revision"])

        result = await system.call()
        assert result.ok, result.summary()
        assert _first_agent_words(result) == greeting


async def test_a_call_in_progress_survives_a_restart_of_the_bus() -> None:
    """The bus goes away for a moment in the middle of a call: both ends buffer and reconnect,
    and the call goes on to its scripted end."""
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        agent = await stack.start_agent("agent-midcall")
        gateway = await stack.start_gateway("gateway-midcall")
        system = BusinessesStack(stack, gateway, agent)
        scenario = Scenario.load(SAMPLES / "opening_hours.json")
        call = asyncio.create_task(CallSimulator(system.call_config()).run(scenario))
        await _logged(gateway, "started (agent agent-midcall)", timeout_s=20)
        await stack.restart_nats()
        assert not call.done(), "the restart must fall inside the call"
        result = await call
        assert result.ok, result.summary()
        assert len(result.latencies) >= 3  # every turn answered, the one across the restart too


async def test_the_admin_api_answers_503_while_the_bus_is_down() -> None:
    """A dead dependency is a clear, retryable answer, not a 500 and not a hang."""
    async with LocalStack() as stack:
        await stack.start_nats()
        gateway = await stack.start_gateway("gateway-busdown", GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=gateway.announced, headers=headers) as admin:
            assert (await admin.get("/admin/businesses")).status_code == 200
            await stack.stop_nats()
            refused = await admin.get("/admin/businesses", timeout=30)
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert refused.json() == {"detail": "the bus is unavailable; try again"}
        assert "the bus is unavailable" in gateway.log_tail(50)
