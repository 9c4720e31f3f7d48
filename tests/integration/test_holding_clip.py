"""A business's own holding line (issue 14, item 2): while the model cannot be reached, the
caller hears the clip the business stored, in its words and its agent's voice, instead of
the agent's own line; then, the model still away when the window runs out, the apology."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import pytest

from switchboard_agent import holding
from switchboard_common.business import DEMO_BUSINESS, HoldingClip
from switchboard_gateway.twilio.twiml import AGENT_LOST_SAY
from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.stack import LocalStack

from .call_probes import session_answering
from .conftest import REALTIME_SCRIPT, SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)

#: 0.8 s of a loud square wave (μ-law 0x10 and 0x90: large, opposite signs), nothing like
#: speech or the agent's own line, so the recording shows which one played.
CLIP = b"\x10\x90" * 3200
BUSINESS = DEMO_BUSINESS.model_copy(
    update={
        "holding_clip": HoldingClip(
            voice=DEMO_BUSINESS.voice,
            ulaw_base64=base64.b64encode(CLIP).decode(),
            text="Please hold on, we're still here.",
        )
    }
)


async def test_the_caller_hears_the_business_s_own_holding_line(tmp_path: Path) -> None:
    (tmp_path / "businesses.json").write_text(json.dumps([BUSINESS.model_dump(mode="json")]))
    env = {"SWITCHBOARD_BUSINESSES_FILE": str(tmp_path / "businesses.json")}
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        # The holding line after 1 s away (the default), the apology after 3 s.
        await stack.start_agent("agent-hold", AGENT_REALTIME_OUTAGE_WINDOW_S="3", **env)
        system = RunningStack(stack, await stack.start_gateway("gw-hold", **env))
        scenario = scenario_dict([{"expect_hangup": True}], agent_timeout_s=20)
        caller = CallSimulator(system.call_config(record=True))
        call = asyncio.create_task(caller.run(Scenario.from_dict(scenario, base_dir=SAMPLES)))
        async with httpx.AsyncClient() as http:
            await session_answering(http, stack.realtime_url, answered=0)  # the greeting
        simulator = next(c for c in stack.children if c.name == "realtime-sim")
        await simulator.kill()  # and it stays away
        result = await call

    assert result.ok, result.summary()
    assert result.said_after_close == [AGENT_LOST_SAY]
    assert result.recording is not None
    assert CLIP[:4000] in result.recording, "the business's clip was not heard"
    assert holding.holding_clip()[:4000] not in result.recording, "the agent's own line played"
