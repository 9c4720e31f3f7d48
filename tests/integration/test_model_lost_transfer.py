"""When the model is lost for good, the business chooses (issue 14, item 2): with
``when_model_lost: "transfer"`` the caller hears the apology and is put through to the
business's transfer number instead of being hung up on. ``call_ended`` still says why
(``realtime_lost``); the ``transfer`` event says how the transfer went. Nobody answering does
not bring the caller back to an agent that has no model: they hear an apology and the call
ends."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.event_stream import by_type
from switchboard_common.events import CallEndedEvent, TransferEvent
from switchboard_gateway.twilio.twiml import MODEL_LOST_TRANSFER_SAY, TRANSFER_FAILED_SAY
from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.stack import LocalStack

from .call_probes import events_to_the_end, session_answering
from .conftest import REALTIME_SCRIPT, SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)

TRANSFER_TO = "+15550999"
BUSINESS = DEMO_BUSINESS.model_copy(
    update={"transfer_number": TRANSFER_TO, "transfer_timeout_s": 5, "when_model_lost": "transfer"}
)
#: The agent's outage window, short here: the test waits it out.
OUTAGE_WINDOW_S = 1.5


@pytest.mark.parametrize(
    ("path", "outcome"),
    [("rest", "completed"), ("action_url", "completed"), ("rest", "no-answer")],
)
async def test_a_lost_model_puts_the_caller_through_when_the_business_chose_so(
    tmp_path: Path, path: str, outcome: str
) -> None:
    (tmp_path / "businesses.json").write_text(json.dumps([BUSINESS.model_dump(mode="json")]))
    env = {"SWITCHBOARD_BUSINESSES_FILE": str(tmp_path / "businesses.json")}
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        if path == "rest":
            await stack.start_twilio_rest()
        await stack.start_agent(
            "agent-lost", AGENT_REALTIME_OUTAGE_WINDOW_S=str(OUTAGE_WINDOW_S), **env
        )
        system = RunningStack(stack, await stack.start_gateway("gw-lost", **env))
        scenario = scenario_dict(
            [{"expect_transfer": TRANSFER_TO}],  # the model goes away during the greeting
            agent_timeout_s=20,
        )
        caller = CallSimulator(system.call_config(dial_outcome=outcome))
        call = asyncio.create_task(caller.run(Scenario.from_dict(scenario, base_dir=SAMPLES)))
        async with httpx.AsyncClient() as http:
            await session_answering(http, stack.realtime_url, answered=0)  # the greeting
        simulator = next(c for c in stack.children if c.name == "realtime-sim")
        await simulator.kill()  # and it stays away
        killed_at = time.monotonic()
        result = await call
        events = await events_to_the_end(stack.nats_url, result.call_sid)

    assert result.ok, result.summary()
    assert result.dialed == TRANSFER_TO and result.dial_status == outcome
    assert result.dial_timeout_s == BUSINESS.transfer_timeout_s
    assert result.said_after_close[0] == MODEL_LOST_TRANSFER_SAY  # the apology, then the dial
    assert result.streams == 1, "the caller must not come back to an agent with no model"
    (transfer,) = by_type(events, TransferEvent)
    (ended,) = by_type(events, CallEndedEvent)
    assert ended.reason == "realtime_lost"
    assert transfer.seq < ended.seq and transfer.to_number == TRANSFER_TO
    if outcome == "completed":
        assert transfer.ok and transfer.reason.startswith("realtime_lost")
    else:
        assert (transfer.ok, transfer.reason) == (False, outcome)
        assert result.said_after_close == [MODEL_LOST_TRANSFER_SAY, TRANSFER_FAILED_SAY]
    print(f"model lost to the end of the call: {time.monotonic() - killed_at:.2f} s")
