"""The agent ends calls itself: a goodbye then a hang-up, a transfer to a person (through
Twilio's REST API, or the <Connect> action URL when REST is unavailable), and the business's
limits (caller silence, max call length)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest

from switchboard_common.business import DEMO_BUSINESS, BusinessProfile
from switchboard_common.event_stream import read_call
from switchboard_common.events import CallEndedEvent, TransferEvent
from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.stack import LocalStack, free_port

from .conftest import REALTIME_SCRIPT, SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)

TRANSFER_TO = "+15550999"
BUSINESS = DEMO_BUSINESS.model_copy(
    update={"transfer_number": TRANSFER_TO, "caller_silence_timeout_s": 5}
)
ASK = {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"}


def _script(tool: str, after: str) -> dict[str, Any]:
    return {
        "turns": [
            {
                "caller": ASK["say"],
                "tool": {"name": tool, "arguments": {"reason": "test"}},
                "agent_after_tool": after,
            }
        ]
    }


async def _start(
    stack: LocalStack,
    tmp: Path,
    script: dict[str, Any] | Path,
    business: BusinessProfile = BUSINESS,
    **gateway_env: str,
) -> RunningStack:
    if isinstance(script, dict):
        (tmp / "script.json").write_text(json.dumps(script))
        script = tmp / "script.json"
    (tmp / "businesses.json").write_text(json.dumps([business.model_dump(mode="json")]))
    await stack.start_nats()
    await stack.start_realtime_sim(script=script)
    env = {"SWITCHBOARD_BUSINESSES_FILE": str(tmp / "businesses.json")}
    await stack.start_agent("agent-tel", **env)
    gateway = await stack.start_gateway("gw-tel", **env, **gateway_env)
    return RunningStack(stack, gateway)


@pytest.fixture
async def hang_up_system(tmp_path: Path) -> AsyncIterator[RunningStack]:
    async with LocalStack() as stack:
        yield await _start(stack, tmp_path, _script("end_call", "Thanks for calling, goodbye!"))


@pytest.fixture(params=["rest", "rest_down", "action_url"])
async def transfer_system(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[RunningStack, str]]:
    """rest: Twilio's REST API takes the transfer. rest_down: the gateway has REST credentials
    but the API is unreachable, so it falls back to the <Connect action> URL. action_url: no
    REST credentials at all."""
    how: str = request.param
    async with LocalStack() as stack:
        env: dict[str, str] = {}
        if how == "rest":
            await stack.start_twilio_rest()
        elif how == "rest_down":
            env = {
                "TWILIO_ACCOUNT_SID": stack.account_sid,
                "TWILIO_API_BASE_URL": f"http://127.0.0.1:{free_port()}",
            }
        script = _script("transfer_call", "Putting you through now.")
        yield await _start(stack, tmp_path, script, **env), how


async def _events(system: RunningStack, call_sid: str) -> list[Any]:
    nc = await nats.connect(system.stack.nats_url)
    try:
        return await read_call(nc.jetstream(), call_sid, timeout_s=10)
    finally:
        await nc.close()


async def test_the_agent_says_goodbye_then_hangs_up(hang_up_system: RunningStack) -> None:
    scenario = scenario_dict([ASK, {"expect_hangup": True}])
    result = await CallSimulator(hang_up_system.call_config()).run(
        Scenario.from_dict(scenario, base_dir=SAMPLES)
    )
    assert result.ok, result.summary()
    assert result.closed_by == "gateway" and result.twiml_hangup
    assert result.close_code == 1000  # a deliberate end, not an internal error
    assert result.said_after_close == []  # no apology: a deliberate hang-up
    # The goodbye was heard in full before the line went down.
    assert result.agent_bytes_dropped == 0
    (ended,) = [
        e for e in await _events(hang_up_system, result.call_sid) if isinstance(e, CallEndedEvent)
    ]
    assert ended.reason == "agent_hung_up"


async def test_the_agent_transfers_the_caller_to_a_person(
    transfer_system: tuple[RunningStack, str],
) -> None:
    system, how = transfer_system
    scenario = scenario_dict([ASK, {"expect_transfer": TRANSFER_TO}])
    result = await CallSimulator(system.call_config()).run(
        Scenario.from_dict(scenario, base_dir=SAMPLES)
    )
    assert result.ok, result.summary()
    assert result.dialed == TRANSFER_TO
    assert result.agent_bytes_dropped == 0  # "putting you through" was heard in full
    if how == "rest":
        # Twilio was told to <Dial> over REST and ended the stream itself: no action URL.
        assert result.rest_updates == ["redirect"]
        assert result.closed_by == "twilio" and result.action_url is None
        assert system.stack.twilio_rest is not None
        (update,) = system.stack.twilio_rest.requests
        assert TRANSFER_TO in update["Twiml"]
    else:
        assert result.rest_updates == []
        assert result.closed_by == "gateway" and result.action_url is not None
        assert result.close_code == 1000
    events = await _events(system, result.call_sid)
    (transfer,) = [e for e in events if isinstance(e, TransferEvent)]
    assert transfer.to_number == TRANSFER_TO and transfer.ok
    (ended,) = [e for e in events if isinstance(e, CallEndedEvent)]
    assert ended.reason == "transferred"
    via = "rest" if how == "rest" else "action_url"
    assert f'switchboard_gateway_transfers_total{{via="{via}"}} 1.0' in await system.metrics()


#: What the model would say if it were asked for another reply after its goodbye.
SECOND_LINE = "Is there anything else I can do for you?"


@pytest.fixture
async def goodbye_with_end_call_system(tmp_path: Path) -> AsyncIterator[RunningStack]:
    """The model says goodbye and calls end_call in one response, as real models do."""
    script = _script("end_call", SECOND_LINE)
    script["turns"][0]["agent"] = "Thanks for calling, goodbye!"
    async with LocalStack() as stack:
        yield await _start(stack, tmp_path, script)


async def test_a_goodbye_with_end_call_in_one_response_is_the_last_line(
    goodbye_with_end_call_system: RunningStack,
) -> None:
    system = goodbye_with_end_call_system
    scenario = scenario_dict([ASK, {"expect_hangup": True}])
    result = await CallSimulator(system.call_config()).run(
        Scenario.from_dict(scenario, base_dir=SAMPLES)
    )
    assert result.ok, result.summary()
    assert result.closed_by == "gateway" and result.twiml_hangup
    assert result.close_code == 1000
    assert result.agent_bytes_dropped == 0  # the goodbye was heard in full
    (session,) = await system.realtime_sessions()
    spoken = [r["output"] for r in session["responses"]]
    assert len(spoken) == 2, spoken  # the greeting, then the goodbye with end_call: no more
    assert SECOND_LINE not in json.dumps(spoken)
    (ended,) = [e for e in await _events(system, result.call_sid) if isinstance(e, CallEndedEvent)]
    assert ended.reason == "agent_hung_up"


async def test_caller_silence_ends_the_call_politely(hang_up_system: RunningStack) -> None:
    """The caller says nothing after the greeting: after the business's silence timeout (5 s
    here) the agent says goodbye and hangs up. The silence counts from the end of the greeting
    as heard (about 9 s of audio), so the hang-up comes well after 15 s."""
    scenario = scenario_dict([{"expect_hangup": True}], agent_timeout_s=40)
    result = await CallSimulator(hang_up_system.call_config()).run(
        Scenario.from_dict(scenario, base_dir=SAMPLES)
    )
    assert result.ok, result.summary()
    assert result.twiml_hangup
    sessions = await hang_up_system.realtime_sessions()
    goodbyes = [
        e
        for s in sessions
        for e in s["control_events"]
        if e.get("type") == "response.create" and "haven't heard" in json.dumps(e)
    ]
    assert len(goodbyes) == 1


async def test_max_call_length_ends_the_call_politely(tmp_path: Path) -> None:
    """A business whose calls may last 10 s: the caller keeps the line open, the agent says
    goodbye at the limit and hangs up (the silence timeout is far longer, so it is the limit)."""
    business = BUSINESS.model_copy(
        update={"max_call_length_s": 10, "caller_silence_timeout_s": 600}
    )
    async with LocalStack() as stack:
        system = await _start(stack, tmp_path, REALTIME_SCRIPT, business)
        scenario = scenario_dict([ASK, {"expect_hangup": True}])
        result = await CallSimulator(system.call_config()).run(
            Scenario.from_dict(scenario, base_dir=SAMPLES)
        )
        assert result.ok, result.summary()
        assert result.twiml_hangup and result.said_after_close == []
        assert 10 <= result.duration_s < 25
        (ended,) = [
            e for e in await _events(system, result.call_sid) if isinstance(e, CallEndedEvent)
        ]
        assert ended.reason == "agent_hung_up" and ended.detail == "max_call_length"
