"""A hostile or broken media stream never disturbs another call, nor the gateway."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from switchboard_gateway.twilio.twiml import NO_AGENT_SAY, UNKNOWN_NUMBER_SAY
from switchboard_sim.call import (
    CallSimulator,
    Scenario,
    TwilioMediaStream,
    parse_twiml,
    twilio_signature,
)
from switchboard_sim.call.twiml import ConnectStream, Hangup, Say, Verb
from switchboard_sim.stack import LocalStack

from .conftest import SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(90)

SHORT_CALL = scenario_dict(
    [
        {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
        {"hangup": True, "after": "agent_done"},
    ]
)

GARBAGE = [
    "this is not json",
    "[1, 2, 3]",
    '{"event": "bogus"}',
    '{"event": "media"}',
    '{"event": "media", "media": {"payload": "!!!not-base64!!!"}}',
    '{"event": "media", "media": {"payload": 42}}',
    '{"event": "mark", "mark": {"name": "not-a-number"}}',
    '{"event": "mark"}',
    '{"event": "dtmf", "dtmf": {"digit": "99"}}',
    '{"event": "start", "start": {"streamSid": "MZ..", "callSid": ""}}',
    '{"event": 12}',
    "",
]


async def _webhook(
    stack: LocalStack, gateway_url: str, call_sid: str, to: str = "+15550100"
) -> list[Verb]:
    """POST a correctly signed voice webhook; the TwiML verbs of the answer."""
    params = {"CallSid": call_sid, "AccountSid": "AC" + "1" * 32, "From": "+1555", "To": to}
    url = f"{stack.public_base_url}/twilio/voice"
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{gateway_url}/twilio/voice",
            data=params,
            headers={"X-Twilio-Signature": twilio_signature(stack.auth_token, url, params)},
        )
    assert response.status_code == 200
    return parse_twiml(response.text)


def _refusal_text(verbs: list[Verb]) -> str:
    assert len(verbs) == 2
    say, hangup = verbs
    assert isinstance(say, Say) and isinstance(hangup, Hangup)
    return say.text


async def test_malformed_frames_on_one_call_leave_a_parallel_call_untouched(
    system: RunningStack,
) -> None:
    good = asyncio.create_task(
        CallSimulator(system.call_config()).run(Scenario.from_dict(SHORT_CALL, base_dir=SAMPLES))
    )

    # A second, misbehaving call: properly set up, then fed garbage.
    bad_sid = "CA" + "b" * 32
    connect = (await _webhook(system.stack, system.gateway_url, bad_sid))[0]
    assert isinstance(connect, ConnectStream)
    ws_url = system.gateway_url.replace("http://", "ws://") + "/twilio/media"
    bad = await TwilioMediaStream.open(
        ws_url,
        auth_token=system.stack.auth_token,
        signed_url=connect.url,
        account_sid="AC" + "1" * 32,
        call_sid=bad_sid,
        custom_parameters=connect.parameters,
    )
    for text in GARBAGE[:3]:
        await bad.send_raw(text)  # before start, too
    await bad.begin()
    for text in GARBAGE:
        await bad.send_raw(text)
    # The bad call still works: its agent greets it through the same gateway.
    await bad.wait_until(lambda: bad.agent_bytes_received > 0, within=15)
    # A message over the size cap ends only that stream (close code 1009, "message too big").
    await bad.send_raw('{"event": "media", "media": {"payload": "' + "A" * 70_000 + '"}}')
    await bad.wait_closed(within=10)
    assert bad.close_code == 1009

    result = await good
    assert result.ok, result.summary()
    assert result.latencies, "the good call's turn was answered"

    metrics = await system.metrics()
    malformed = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("switchboard_gateway_malformed_messages_total{")
    )
    assert malformed >= len(GARBAGE) - 1
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{system.gateway_url}/readyz")).status_code == 200


async def test_an_unknown_number_is_refused_politely(system: RunningStack) -> None:
    verbs = await _webhook(system.stack, system.gateway_url, "CA" + "c" * 32, to="+19990000")
    assert _refusal_text(verbs) == UNKNOWN_NUMBER_SAY


@pytest.mark.timeout(30)
async def test_no_agent_available_is_refused_politely() -> None:
    async with LocalStack() as stack:
        await stack.start_nats()
        gateway = await stack.start_gateway("lonely-gateway")
        verbs = await _webhook(stack, gateway.announced, "CA" + "d" * 32)
        assert _refusal_text(verbs) == NO_AGENT_SAY
