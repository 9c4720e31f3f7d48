"""Transfers that can fail (issue 14, item 7). The transfer's <Dial> rings the business's
number for its ``transfer_timeout_s`` and reports back: answered, the call is the person's and
the ``transfer`` event says ok; no answer, busy or failed, the caller comes back to the same
agent on a new stream of the same call, with the conversation, and the agent tells them. The
call simulator plays each outcome as Twilio does (``CallConfig.dial_outcome``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchboard_agent.transfers import NO_NUMBER, told_to_model
from switchboard_common.business import DEMO_BUSINESS, BusinessProfile
from switchboard_common.event_stream import by_type
from switchboard_common.events import AgentTurnEvent, CallEndedEvent, TransferEvent
from switchboard_common.messages import DialStatus, TransferOutcome
from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.stack import LocalStack

from .call_probes import events_to_the_end
from .conftest import SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)

TRANSFER_TO = "+15550999"
CALLER = "+15557777"
ASK = {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"}
BUSINESS = DEMO_BUSINESS.model_copy(
    update={"transfer_number": TRANSFER_TO, "transfer_timeout_s": 5}
)
FAILURES = ["no-answer", "busy", "failed"]
#: What the agent says once told the transfer failed (the Realtime simulator's script).
SORRY = "I'm sorry, nobody could take your call. Can I take a message instead?"


def _told(status: str) -> str:
    outcome = TransferOutcome(call_id="CA0", status=DialStatus(status), to_number=TRANSFER_TO)
    return told_to_model(outcome)


def _script() -> dict[str, Any]:
    return {
        "turns": [
            {
                "caller": ASK["say"],
                "tool": {"name": "transfer_call", "arguments": {"reason": "wants a person"}},
                "agent_after_tool": "Putting you through now.",
            },
            *({"caller": _told(status), "agent": SORRY} for status in FAILURES),
        ]
    }


async def _start(
    stack: LocalStack, tmp: Path, business: BusinessProfile, rest: bool
) -> RunningStack:
    (tmp / "script.json").write_text(json.dumps(_script()))
    (tmp / "businesses.json").write_text(json.dumps([business.model_dump(mode="json")]))
    env = {"SWITCHBOARD_BUSINESSES_FILE": str(tmp / "businesses.json")}
    await stack.start_nats()
    await stack.start_realtime_sim(script=tmp / "script.json")
    if rest:
        await stack.start_twilio_rest()
    await stack.start_agent("agent-xfer", **env)
    return RunningStack(stack, await stack.start_gateway("gw-xfer", **env))


@pytest.fixture(params=["rest", "action_url"])
async def system(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunningStack]:
    """rest: the transfer goes through Twilio's REST API; action_url: through the <Connect
    action> URL (no REST credentials). The dial is reported back the same way."""
    async with LocalStack() as stack:
        yield await _start(stack, tmp_path, BUSINESS, rest=request.param == "rest")


@pytest.mark.parametrize("outcome", FAILURES)
async def test_a_transfer_nobody_takes_brings_the_caller_back_to_the_agent(
    system: RunningStack, outcome: str
) -> None:
    scenario = scenario_dict([ASK, {"expect_transfer": TRANSFER_TO}, {"hangup": True}])
    config = system.call_config(dial_outcome=outcome)
    result = await CallSimulator(config).run(Scenario.from_dict(scenario, base_dir=SAMPLES))
    assert result.ok, result.summary()
    assert result.dialed == TRANSFER_TO and result.dial_status == outcome
    assert result.dial_timeout_s == BUSINESS.transfer_timeout_s
    assert result.dial_caller_id == CALLER  # the business's default: the caller's number
    # Back on a second stream of the same call, and the agent spoke to the caller there.
    assert result.streams == 2 and result.reentries == ["dial"]
    assert result.turns_completed == 3
    events = await events_to_the_end(system.stack.nats_url, result.call_sid)
    (transfer,) = by_type(events, TransferEvent)
    assert (transfer.to_number, transfer.ok, transfer.reason) == (TRANSFER_TO, False, outcome)
    after = [e for e in by_type(events, AgentTurnEvent) if e.seq > transfer.seq]
    assert [e.text for e in after] == [SORRY]  # told what happened, then answered
    (ended,) = by_type(events, CallEndedEvent)
    assert ended.reason == "caller_hung_up"
    (session,) = await system.realtime_sessions()  # the same Realtime session all along
    told = [
        e
        for e in session["control_events"]
        if e.get("type") == "conversation.item.create"
        and _told(outcome) in json.dumps(e.get("item", {}))
    ]
    assert len(told) == 1


async def test_an_answered_transfer_is_the_persons_call(system: RunningStack) -> None:
    scenario = scenario_dict([ASK, {"expect_transfer": TRANSFER_TO}])
    result = await CallSimulator(system.call_config(dial_outcome="completed")).run(
        Scenario.from_dict(scenario, base_dir=SAMPLES)
    )
    assert result.ok, result.summary()
    assert result.dialed == TRANSFER_TO and result.dial_status == "completed"
    assert result.streams == 1 and result.twiml_hangup  # the call ended with the person
    events = await events_to_the_end(system.stack.nats_url, result.call_sid)
    (transfer,) = by_type(events, TransferEvent)
    assert (transfer.to_number, transfer.ok, transfer.reason) == (
        TRANSFER_TO,
        True,
        "wants a person",
    )
    (ended,) = by_type(events, CallEndedEvent)
    assert ended.reason == "transferred"
    assert transfer.seq < ended.seq


async def test_the_business_chooses_the_caller_id(tmp_path: Path) -> None:
    business = BUSINESS.model_copy(update={"transfer_caller_id": "business"})
    async with LocalStack() as stack:
        system = await _start(stack, tmp_path, business, rest=True)
        scenario = scenario_dict([ASK, {"expect_transfer": TRANSFER_TO}])
        result = await CallSimulator(system.call_config()).run(
            Scenario.from_dict(scenario, base_dir=SAMPLES)
        )
        assert result.ok, result.summary()
        assert result.dial_caller_id == business.phone_numbers[0]


async def test_no_transfer_number_is_a_failed_transfer(tmp_path: Path) -> None:
    business = BUSINESS.model_copy(update={"transfer_number": None})
    async with LocalStack() as stack:
        system = await _start(stack, tmp_path, business, rest=True)
        scenario = scenario_dict([ASK, {"hangup": True}])
        result = await CallSimulator(system.call_config()).run(
            Scenario.from_dict(scenario, base_dir=SAMPLES)
        )
        assert result.ok, result.summary()
        assert result.dialed is None
        events = await events_to_the_end(system.stack.nats_url, result.call_sid)
        (transfer,) = by_type(events, TransferEvent)
        assert (transfer.to_number, transfer.ok, transfer.reason) == ("", False, NO_NUMBER)
