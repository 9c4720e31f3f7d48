"""A business's new settings reach the calls in progress (issue 14, item 6): changed in the
store mid-call, they are sent to the call's Realtime session with ``session.update`` at the
next turn boundary, before the model answers again. The voice stays: it is for new calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.business_store import BusinessStore
from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.stack import LocalStack

from .conftest import SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)

ASK = {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"}
NEW_INSTRUCTIONS = "You answer for Bella's Bistro, now under new management. Be brief."
BUSINESS = DEMO_BUSINESS.model_copy(update={"enabled_tools": ["end_call"]})


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[RunningStack]:
    script = {"turns": [{"caller": ASK["say"], "agent": "We open at noon every day."}]}
    (tmp_path / "script.json").write_text(json.dumps(script))
    (tmp_path / "businesses.json").write_text(json.dumps([BUSINESS.model_dump(mode="json")]))
    env = {"SWITCHBOARD_BUSINESSES_FILE": str(tmp_path / "businesses.json")}
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=tmp_path / "script.json")
        await stack.start_agent("agent-live", **env)
        yield RunningStack(stack, await stack.start_gateway("gw-live", **env))


async def _session(http: httpx.AsyncClient, base: str, ready: Any) -> dict[str, Any]:
    """The call's session once ``ready(session)`` holds (polled, bounded: the simulator's
    introspection API is the only view of it)."""
    async with asyncio.timeout(30):
        while True:
            sessions: list[dict[str, Any]] = (await http.get(f"{base}/_sim/sessions")).json()
            found = [s for s in sessions if s["connected"] and ready(s)]
            if found:
                return found[0]
            await asyncio.sleep(0.05)


def _live_updates(session: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e
        for e in session["control_events"]
        if e.get("type") == "session.update"
        and NEW_INSTRUCTIONS in e.get("session", {}).get("instructions", "")
    ]


async def test_new_instructions_reach_a_call_in_progress(system: RunningStack) -> None:
    scenario = scenario_dict([ASK, {"hangup": True}])
    call = asyncio.create_task(
        CallSimulator(system.call_config()).run(Scenario.from_dict(scenario, base_dir=SAMPLES))
    )
    base = system.stack.realtime_url
    async with httpx.AsyncClient() as http:
        # The greeting is being spoken: change the business under the call.
        await _session(
            http, base, lambda s: s["sent_counts"].get("response.output_audio.delta", 0) > 0
        )
        nc = await nats.connect(system.stack.nats_url)
        try:
            store = await BusinessStore.open(nc)
            stored = await store.get(BUSINESS.business_id)
            assert stored is not None
            changed = stored.profile.model_copy(
                update={"instructions": NEW_INSTRUCTIONS, "voice": "cedar"}
            )
            await store.put(changed, revision=stored.revision)
        finally:
            await nc.close()
        updated = await _session(http, base, lambda s: bool(_live_updates(s)))
    # Sent before the model answered the caller: only the greeting was done by then.
    assert len(updated["responses"]) <= 1, updated["responses"]
    (update,) = _live_updates(updated)
    assert "voice" not in update["session"]["audio"].get("output", {})  # kept for this call
    result = await call
    assert result.ok, result.summary()
    (session,) = await system.realtime_sessions()
    assert session["errors_sent"] == []  # no cannot_update_voice: the voice was not touched
    assert len(session["responses"]) == 2  # greeting, then the answer under the new settings
