"""Timers that wait on the agent run on what the caller heard, not on what the model made
(issue 14, item 3). A real model streams its audio much faster than real time; the simulator
here streams it unpaced, so a reply is all generated long before the caller has heard it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from switchboard_common.business import DEMO_BUSINESS
from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.call.heard import quiet_stretches
from switchboard_sim.stack import LocalStack

from .conftest import REALTIME_SCRIPT, SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)

SILENCE_TIMEOUT_S = 5
#: The limits look at the clock once a second.
TICK_S = 1.0


async def test_the_silence_timeout_counts_from_the_end_of_what_the_caller_heard(
    tmp_path: Path,
) -> None:
    business = DEMO_BUSINESS.model_copy(update={"caller_silence_timeout_s": SILENCE_TIMEOUT_S})
    (tmp_path / "businesses.json").write_text(json.dumps([business.model_dump(mode="json")]))
    env = {"SWITCHBOARD_BUSINESSES_FILE": str(tmp_path / "businesses.json")}
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT, extra=["--speed", "0"])
        await stack.start_agent("agent-timers", **env)
        gateway = await stack.start_gateway("gw-timers", **env)
        system = RunningStack(stack, gateway)
        # The caller listens to the greeting and then says nothing at all.
        scenario = scenario_dict([{"expect_hangup": True}], agent_timeout_s=30)
        result = await CallSimulator(system.call_config(record=True)).run(
            Scenario.from_dict(scenario, base_dir=SAMPLES)
        )

    assert result.ok, result.summary()
    assert result.recording is not None
    # The greeting, then the silence the caller sat through, then the goodbye.
    quiet = [q for q in quiet_stretches(result.recording, min_s=1.0) if q.start_s > 1.0]
    assert quiet, "no silence between the greeting and the goodbye"
    heard_silence = quiet[0].length_s
    print("quiet stretches:", [(round(q.start_s, 2), round(q.length_s, 2)) for q in quiet])
    print(f"silence the caller heard before the goodbye: {heard_silence:.2f} s")
    assert SILENCE_TIMEOUT_S - 0.1 <= heard_silence <= SILENCE_TIMEOUT_S + TICK_S + 1.0
