"""The call simulator against a fake gateway: signing, pacing, playback/marks, clear, TwiML
after close, recording, latency. Timing is checked from timestamps and arrival times, never by
sleeping."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import pytest

from switchboard_sim.call import CallConfig, CallSimulator, Scenario, TwilioMediaStream
from switchboard_sim.call.audio import read_wav_ulaw

from .fake_gateway import GOODBYE, PUBLIC, STREAM_URL, TOKEN, AgentSession, FakeGateway, tone

pytestmark = pytest.mark.timeout(30)


def config(gw: FakeGateway, **kw: object) -> CallConfig:
    return CallConfig(gateway_url=gw.url, public_base_url=PUBLIC, auth_token=TOKEN, **kw)  # type: ignore[arg-type]


def hangup_after(ms: int) -> Scenario:
    return Scenario.from_dict({"turns": [{"hangup": True, "after": {"delay_ms": ms}}]})


async def test_signed_webhook_and_stream_start(gateway: FakeGateway) -> None:
    result = await CallSimulator(
        config(gateway, to_number="+15550100", from_number="+15557777")
    ).run(hangup_after(200))
    assert result.ok, result.errors
    assert result.webhook_status == 200
    form, ok = gateway.webhooks[0]
    assert ok and gateway.ws_signatures == [True]
    assert re.fullmatch(r"CA[0-9a-f]{32}", form["CallSid"])
    assert re.fullmatch(r"AC[0-9a-f]{32}", form["AccountSid"])
    assert form["From"] == form["Caller"] == "+15557777"
    assert form["To"] == form["Called"] == "+15550100"
    assert (form["CallStatus"], form["Direction"], form["ApiVersion"]) == (
        "ringing",
        "inbound",
        "2010-04-01",
    )

    s = gateway.sessions[0]
    assert s.inbound[0].msg == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = s.inbound[1].msg
    assert start["event"] == "start" and start["sequenceNumber"] == "1"
    assert (
        re.fullmatch(r"MZ[0-9a-f]{32}", start["streamSid"])
        and start["streamSid"] == result.stream_sid
    )
    body = start["start"]
    assert body["callSid"] == form["CallSid"] and body["accountSid"] == form["AccountSid"]
    assert body["tracks"] == ["inbound"]
    assert body["customParameters"] == {"call_id": form["CallSid"], "business_id": "biz-1"}
    assert body["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    stop = s.inbound[-1].msg
    assert stop["event"] == "stop"
    assert stop["stop"] == {"accountSid": form["AccountSid"], "callSid": form["CallSid"]}
    seqs = [int(i.msg["sequenceNumber"]) for i in s.inbound[1:]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert result.closed_by == "caller" and result.close_code == 1000


async def test_bad_signature_is_refused(gateway: FakeGateway) -> None:
    result = await CallSimulator(config(gateway, bad_signature=True)).run(hangup_after(100))
    assert result.webhook_status == 403 and result.refused_as_expected and result.ok
    assert gateway.webhooks[0][1] is False and not result.connected
    # And the websocket upgrade, signed with a wrong token, is refused too.
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as info:
        await TwilioMediaStream.open(
            gateway.url.replace("http", "ws") + "/twilio/media",
            auth_token="not-the-token",
            signed_url=STREAM_URL,
            account_sid="AC" + "0" * 32,
            call_sid="CA" + "0" * 32,
        )
    assert info.value.response.status_code == 403
    assert gateway.ws_signatures == [False]


async def test_media_is_paced_at_real_time(gateway: FakeGateway) -> None:
    result = await CallSimulator(config(gateway)).run(hangup_after(1500))
    assert result.ok, result.errors
    media = gateway.sessions[0].events("media")
    assert len(media) >= 70
    t0, ts0 = media[0].at, int(media[0].msg["media"]["timestamp"])
    for n, item in enumerate(media):
        m = item.msg["media"]
        assert m["track"] == "inbound" and m["chunk"] == str(n + 1)
        assert int(m["timestamp"]) - ts0 == 20 * n
        # Arrival follows the timestamp: neither a burst nor a drift (loose bound for CI noise).
        assert abs((item.at - t0) - (int(m["timestamp"]) - ts0) / 1000) < 0.08
        assert base64.b64decode(m["payload"]) == b"\xff" * 160  # silence while not speaking
    span = media[-1].at - t0
    assert span == pytest.approx((len(media) - 1) * 0.02, abs=0.08)


def expect_hangup() -> Scenario:
    return Scenario.from_dict({"turns": [{"expect_hangup": True}], "agent_timeout_s": 10})


def is_mark(m: dict[str, object]) -> bool:
    return m.get("event") == "mark"


async def test_marks_echo_after_playback_then_twiml_after_close(
    gateway: FakeGateway, tmp_path: Path
) -> None:
    timing: dict[str, float] = {}

    async def agent(s: AgentSession) -> None:
        await s.wait_started()
        sent = time.monotonic()
        await s.send_media(tone(1000))  # one burst, far faster than real time
        await s.send_mark("m1")
        await s.send_media(tone(200))
        await s.send_mark("m2")
        m1 = await s.recv_until(is_mark)
        m2 = await s.recv_until(is_mark)
        timing.update(m1=m1.at - sent, m2=m2.at - sent)
        assert m1.msg["mark"] == {"name": "m1"} and m2.msg["mark"] == {"name": "m2"}
        assert m1.msg["streamSid"] == s.stream_sid and m1.msg["sequenceNumber"].isdigit()
        await s.close()

    gateway.agent = agent
    wav = tmp_path / "heard.wav"
    result = await CallSimulator(config(gateway, record_path=wav)).run(expect_hangup())
    assert not gateway.agent_errors, gateway.agent_errors
    assert result.ok, result.errors
    # Played at 8000 bytes/s: a mark comes back when playback reaches it, not on arrival.
    assert 0.98 <= timing["m1"] <= 1.12, timing
    assert 1.18 <= timing["m2"] <= 1.32, timing
    assert result.marks_received == result.marks_echoed == ["m1", "m2"]
    assert result.agent_bytes_received == result.agent_bytes_played == 9600
    # The stream closed by the gateway: Twilio goes on with the TwiML after <Connect>.
    assert result.closed_by == "gateway" and result.close_code == 1000
    assert result.said_after_close == [GOODBYE] and result.twiml_hangup
    assert gateway.actions == [] and result.action_status is None and result.dialed is None
    # The recording holds the 1.2 s of tone on the call's timeline, silence elsewhere.
    heard = read_wav_ulaw(wav)
    assert heard == result.recording
    loud = [i for i, b in enumerate(heard) if b != 0xFF]
    assert len(loud) == 9600
    assert loud[-1] - loud[0] == 9600 - 1  # contiguous
    assert heard[loud[0] : loud[0] + 9600] == tone(1200)
    assert abs(len(heard) / 8000 - result.duration_s) < 0.2


async def test_clear_drops_audio_and_returns_pending_marks_at_once(gateway: FakeGateway) -> None:
    timing: dict[str, float] = {}

    async def agent(s: AgentSession) -> None:
        await s.wait_started()
        for name in "abc":
            await s.send_media(tone(1000))
            await s.send_mark(name)
        await s.frames(10)  # ~200 ms of the caller's clock: playback is well inside mark "a"
        assert not s.events("mark"), "a mark came back before playback reached it"
        cleared = time.monotonic()
        await s.send_clear()
        marks = [await s.recv_until(is_mark) for _ in range(3)]
        timing["spread"] = marks[-1].at - cleared
        assert [m.msg["mark"]["name"] for m in marks] == ["a", "b", "c"]
        await s.close()

    gateway.agent = agent
    result = await CallSimulator(config(gateway)).run(expect_hangup())
    assert not gateway.agent_errors, gateway.agent_errors
    assert result.ok, result.errors
    assert timing["spread"] < 0.1
    assert len(result.clears) == 1
    assert result.marks_echoed == ["a", "b", "c"]
    assert result.agent_bytes_played + result.agent_bytes_dropped == 24000
    assert 800 <= result.agent_bytes_played <= 4000  # 100..500 ms played before the clear


async def test_turn_latency_from_end_of_speech(gateway: FakeGateway, samples: Path) -> None:
    timing: dict[str, float] = {}

    async def agent(s: AgentSession) -> None:
        await s.wait_started()
        await s.speech_end()
        await s.frames(15)  # answer ~300 ms after the caller stopped (+20 ms to notice)
        await s.send_media(tone(400))
        await s.send_mark("reply")
        timing["mark"] = (await s.recv_until(is_mark)).at

    gateway.agent = agent
    scenario = Scenario.from_dict(
        {
            "turns": [
                {"say": "hello", "wav": "speech.wav", "after": "now"},
                {"hangup": True},
            ],
            "quiet_ms": 300,
            "pause_ms": 100,
        },
        base_dir=samples,
    )
    lines: list[str] = []
    result = await CallSimulator(config(gateway, log=lines.append)).run(scenario)
    assert not gateway.agent_errors, gateway.agent_errors
    assert result.ok, result.errors
    assert [lat.turn for lat in result.latencies] == [1]
    assert 290 <= result.latencies[0].latency_ms <= 420, result.latencies
    n, p50, worst = result.latency_summary()
    assert n == 1 and p50 == worst == result.latencies[0].latency_ms
    assert any(re.search(r"\] turn 1 latency \d+ ms$", line) for line in lines), lines
    assert result.turns_completed == 2 and result.closed_by == "caller"
    # Caller's speech reached the gateway: 20 loud frames.
    s = gateway.sessions[0]
    from .fake_gateway import is_loud

    assert sum(is_loud(i.msg) for i in s.inbound) == 20
    stamps = [int(i.msg["media"]["timestamp"]) for i in s.events("media")]
    assert stamps == [20 * k for k in range(len(stamps))]  # speech does not disturb the timeline
    assert s.inbound[-1].msg["event"] == "stop"
    # The hangup waited for the reply to finish playing (mark back) plus quiet time.
    assert s.inbound[-1].at - timing["mark"] >= 0.3


async def test_barge_in_starts_speaking_into_the_reply(gateway: FakeGateway, samples: Path) -> None:
    timing: dict[str, float] = {}

    async def agent(s: AgentSession) -> None:
        await s.wait_started()
        await s.send_media(tone(300))  # greeting
        await s.send_mark("greeting")
        await s.speech_end()
        sent = time.monotonic()
        await s.send_media(tone(3000))  # a long reply the caller will interrupt
        await s.send_mark("reply")
        barge = await s.recv_until(is_loud_msg)
        timing["barge"] = barge.at - sent
        await s.send_clear()
        mark = await s.recv_until(is_mark)
        timing["mark"] = mark.at - barge.at
        assert mark.msg["mark"]["name"] == "reply"
        await s.speech_end()
        await s.send_media(tone(200))  # the short answer after the barge-in

    from .fake_gateway import is_loud as is_loud_msg

    gateway.agent = agent
    scenario = Scenario.from_dict(
        {
            "turns": [
                {"say": "hi", "wav": "short.wav"},
                {"say": "wait", "wav": "speech.wav", "after": {"barge_in_ms": 500}},
                {"hangup": True},
            ],
            "quiet_ms": 300,
            "pause_ms": 50,
        },
        base_dir=samples,
    )
    result = await CallSimulator(config(gateway)).run(scenario)
    assert not gateway.agent_errors, gateway.agent_errors
    assert result.ok, result.errors
    assert 0.48 <= timing["barge"] <= 0.62, timing
    assert timing["mark"] < 0.25
    assert len(result.clears) == 1
    assert result.marks_echoed == ["greeting", "reply"]
    assert [lat.turn for lat in result.latencies] == [1, 2]
    assert result.agent_bytes_dropped >= 8 * 2000


async def test_agent_silence_fails_the_call_with_a_clear_message(
    gateway: FakeGateway, samples: Path
) -> None:
    scenario = Scenario.from_dict(
        {"turns": [{"say": "hi", "wav": "short.wav"}], "agent_timeout_s": 0.5}, base_dir=samples
    )
    started = time.monotonic()
    result = await CallSimulator(config(gateway)).run(scenario)
    assert time.monotonic() - started < 3
    assert not result.ok
    assert any("did not start a reply within 0.5 s" in e for e in result.errors), result.errors
    assert result.closed_by == "caller"  # hung up cleanly after failing


async def test_wrong_stream_sid_is_recorded(gateway: FakeGateway) -> None:
    async def agent(s: AgentSession) -> None:
        await s.wait_started()
        await s.send({"event": "media", "streamSid": "MZ" + "0" * 32, "media": {"payload": "AAAA"}})
        await s.send_mark("ok")
        await s.recv_until(is_mark)
        await s.close()

    gateway.agent = agent
    result = await CallSimulator(config(gateway)).run(expect_hangup())
    assert not result.ok
    assert any("streamSid" in e for e in result.errors), result.errors
    assert result.agent_bytes_received == 0 and result.marks_echoed == ["ok"]


async def test_gateway_closing_mid_script_is_an_error(gateway: FakeGateway, samples: Path) -> None:
    async def agent(s: AgentSession) -> None:
        await s.wait_started()
        await s.close(code=1011)

    gateway.agent = agent
    scenario = Scenario.from_dict({"turns": [{"say": "hi", "wav": "short.wav"}]}, base_dir=samples)
    result = await CallSimulator(config(gateway)).run(scenario)
    assert not result.ok
    assert result.close_code == 1011 and result.closed_by == "gateway"
    assert any("before turn 1" in e for e in result.errors), result.errors
    assert result.said_after_close == [GOODBYE]


async def test_low_level_stream_can_misbehave(gateway: FakeGateway) -> None:
    got: dict[str, str] = {}

    async def agent(s: AgentSession) -> None:
        got["raw"] = (await s.recv()).msg.get("text", "")
        await s.send({"event": "mark", "streamSid": "MZ" + "1" * 32, "mark": {"name": "x"}})
        await s.recv_until(lambda m: m.get("event") == "dtmf")
        await s.close(code=4000)

    gateway.agent = agent
    stream = await TwilioMediaStream.open(
        gateway.url.replace("http", "ws") + "/twilio/media",
        auth_token=TOKEN,
        signed_url=STREAM_URL,
        account_sid="AC" + "0" * 32,
        call_sid="CA" + "0" * 32,
        stream_sid="MZ" + "1" * 32,
    )
    try:
        await stream.send_raw('{"event": "start", oops')
        mark = await stream.next_event("mark", within=5)
        assert mark["mark"]["name"] == "x"
        await stream.send_dtmf("5")
        await stream.wait_closed(5)
    finally:
        await stream.aclose()
    assert got["raw"] == '{"event": "start", oops'
    assert stream.close_code == 4000
    dtmf = gateway.sessions[0].events("dtmf")[0].msg
    assert dtmf["dtmf"] == {"track": "inbound_track", "digit": "5"}
    assert dtmf["streamSid"] == "MZ" + "1" * 32


async def test_dtmf_turn_and_latency(gateway: FakeGateway) -> None:
    async def agent(s: AgentSession) -> None:
        await s.wait_started()
        dtmf = await s.recv_until(lambda m: m.get("event") == "dtmf")
        assert dtmf.msg["dtmf"] == {"track": "inbound_track", "digit": "1"}
        await s.frames(5)
        await s.send_media(tone(200))

    gateway.agent = agent
    scenario = Scenario.from_dict(
        {"turns": [{"dtmf": "1", "after": "now"}, {"hangup": True}], "quiet_ms": 200}
    )
    result = await CallSimulator(config(gateway)).run(scenario)
    assert not gateway.agent_errors, gateway.agent_errors
    assert result.ok, result.errors
    assert [lat.turn for lat in result.latencies] == [1]
    assert 80 <= result.latencies[0].latency_ms <= 200


async def test_speed_factor_compresses_the_whole_call(gateway: FakeGateway) -> None:
    started = time.monotonic()
    result = await CallSimulator(config(gateway, speed=4.0)).run(hangup_after(2000))
    wall = time.monotonic() - started
    assert result.ok, result.errors
    media = gateway.sessions[0].events("media")
    # 2 s of call time as ~100 frames with media timestamps, delivered in ~0.5 s of wall time.
    assert 95 <= len(media) <= 110
    assert media[-1].msg["media"]["timestamp"] == str(20 * (len(media) - 1))
    assert (media[-1].at - media[0].at) == pytest.approx(len(media) * 0.005, abs=0.05)
    assert wall < 1.5


# --- <Connect action> and <Dial> -------------------------------------------------------------

TRANSFER_TO = "+15551234567"


async def agent_ends_call(s: AgentSession) -> None:
    await s.wait_started()
    await s.frames(3)
    await s.close()


def expect_transfer(number: str = TRANSFER_TO) -> Scenario:
    return Scenario.from_dict({"turns": [{"expect_transfer": number}], "agent_timeout_s": 10})


async def test_connect_action_is_signed_and_replaces_the_rest_of_the_twiml(
    gateway: FakeGateway,
) -> None:
    gateway.agent = agent_ends_call
    gateway.connect_action = "connect-action?leg=2"  # relative to the voice webhook URL
    gateway.twiml_after = "<Say>never reached</Say>"
    gateway.action_twiml = "<Response><Say>Goodbye from the action.</Say><Hangup/></Response>"
    lines: list[str] = []
    result = await CallSimulator(config(gateway, log=lines.append)).run(expect_hangup())
    assert not gateway.agent_errors, gateway.agent_errors
    assert result.ok, result.errors
    assert len(gateway.actions) == 1
    req = gateway.actions[0]
    assert req.signature_ok and req.stream_was_closed and req.method == "POST"
    assert req.url == result.action_url == PUBLIC + "/twilio/connect-action?leg=2"
    assert req.params["CallSid"] == result.call_sid
    assert req.params["AccountSid"] == result.account_sid
    assert (req.params["From"], req.params["To"]) == ("+15557777", "+15550100")
    assert (req.params["CallStatus"], req.params["Direction"], req.params["ApiVersion"]) == (
        "in-progress",
        "inbound",
        "2010-04-01",
    )
    assert result.action_status == 200
    assert result.closed_by == "gateway"
    assert result.said_after_close == ["Goodbye from the action."]  # not the verbs after Connect
    assert result.twiml_hangup and result.dialed is None
    assert result.turns_completed == 1
    assert "<Connect action> " + PUBLIC + "/twilio/connect-action?leg=2: HTTP 200" in (
        result.summary()
    )


async def test_connect_action_with_get_signs_the_query(gateway: FakeGateway) -> None:
    gateway.agent = agent_ends_call
    gateway.connect_action = PUBLIC + "/twilio/connect-action?leg=3"
    gateway.connect_method = "GET"
    result = await CallSimulator(config(gateway)).run(expect_hangup())
    assert result.ok, result.errors
    (req,) = gateway.actions
    assert req.method == "GET" and req.signature_ok
    assert req.params["leg"] == "3" and req.params["CallStatus"] == "in-progress"
    assert result.twiml_hangup


@pytest.mark.parametrize(
    "dial", [f"<Dial>{TRANSFER_TO}</Dial>", f"<Dial><Number>{TRANSFER_TO}</Number></Dial>"]
)
async def test_connect_action_dial_satisfies_expect_transfer(
    gateway: FakeGateway, dial: str
) -> None:
    gateway.agent = agent_ends_call
    gateway.connect_action = "/twilio/connect-action"
    gateway.action_twiml = f"<Response>{dial}<Say>after the dial</Say></Response>"
    lines: list[str] = []
    result = await CallSimulator(config(gateway, log=lines.append)).run(expect_transfer())
    assert result.ok, result.errors
    assert gateway.actions[0].signature_ok
    assert result.dialed == TRANSFER_TO and not result.twiml_hangup
    assert result.said_after_close == []  # the call left for the dialed number
    assert result.turns_completed == 1
    assert any(line.split("] ", 1)[1].startswith(f"twiml <Dial> {TRANSFER_TO}") for line in lines)
    assert f"transferred to {TRANSFER_TO}" in result.summary()


@pytest.mark.parametrize(
    ("action_twiml", "scenario", "message"),
    [
        (f"<Dial>{TRANSFER_TO}</Dial>", expect_hangup(), f"transferred to {TRANSFER_TO} instead"),
        ("<Hangup/>", expect_transfer(), "ended without a <Dial>"),
        ("<Say>bye</Say>", expect_transfer(), "ended without a <Dial>"),
        (f"<Dial>{TRANSFER_TO}</Dial>", expect_transfer("+15550000"), f"to {TRANSFER_TO}"),
    ],
)
async def test_unexpected_ending_is_an_error(
    gateway: FakeGateway, action_twiml: str, scenario: Scenario, message: str
) -> None:
    gateway.agent = agent_ends_call
    gateway.connect_action = "/twilio/connect-action"
    gateway.action_twiml = f"<Response>{action_twiml}</Response>"
    result = await CallSimulator(config(gateway)).run(scenario)
    assert not result.ok
    assert len(result.errors) == 1 and "turn 1 (expect " in result.errors[0], result.errors
    assert message in result.errors[0], result.errors


@pytest.mark.parametrize(
    ("action_twiml", "then"),
    [("<Hangup/>", "the call then ended"), (f"<Dial>{TRANSFER_TO}</Dial>", TRANSFER_TO)],
)
async def test_agent_ending_the_call_mid_script_is_an_error(
    gateway: FakeGateway, samples: Path, action_twiml: str, then: str
) -> None:
    gateway.agent = agent_ends_call
    gateway.connect_action = "/twilio/connect-action"
    gateway.action_twiml = f"<Response>{action_twiml}</Response>"
    scenario = Scenario.from_dict(
        {"turns": [{"say": "hi", "wav": "short.wav"}, {"expect_hangup": True}]}, base_dir=samples
    )
    result = await CallSimulator(config(gateway)).run(scenario)
    assert not result.ok and gateway.actions[0].signature_ok
    assert len(result.errors) == 1, result.errors
    assert "before turn 1 (say 'hi')" in result.errors[0] and then in result.errors[0]
    assert result.turns_completed == 0


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, "<Response><Hangup/></Response>", "answered HTTP 500"),
        (404, "not here", "answered HTTP 404: not here"),
        (200, "<Response><Gather/>", "bad TwiML from the <Connect action>"),
        (200, "<Response><Connect/></Response>", "bad TwiML from the <Connect action>"),
    ],
)
async def test_bad_action_answer_is_an_error(
    gateway: FakeGateway, status: int, body: str, message: str
) -> None:
    gateway.agent = agent_ends_call
    gateway.connect_action = "/twilio/connect-action"
    gateway.action_status = status
    gateway.action_twiml = body
    result = await CallSimulator(config(gateway)).run(expect_hangup())
    assert not result.ok
    assert result.action_status == status
    assert any(message in e and "/twilio/connect-action" in e for e in result.errors), result.errors
    assert not result.twiml_hangup and result.dialed is None


async def test_action_on_another_host_is_an_error(gateway: FakeGateway) -> None:
    gateway.agent = agent_ends_call
    gateway.connect_action = "https://elsewhere.example.com/twilio/connect-action"
    result = await CallSimulator(config(gateway)).run(expect_hangup())
    assert not result.ok and not gateway.actions
    assert any("not the public host" in e for e in result.errors), result.errors


async def test_no_action_request_when_the_caller_hangs_up(gateway: FakeGateway) -> None:
    gateway.connect_action = "/twilio/connect-action"
    result = await CallSimulator(config(gateway)).run(hangup_after(200))
    assert result.ok, result.errors
    assert result.closed_by == "caller"
    assert gateway.actions == [] and result.action_status is None
    assert result.said_after_close == [] and not result.twiml_hangup


async def test_without_action_the_verbs_after_connect_run(gateway: FakeGateway) -> None:
    gateway.agent = agent_ends_call
    gateway.twiml_after = f"<Say>{GOODBYE}</Say><Dial>{TRANSFER_TO}</Dial><Say>unreached</Say>"
    result = await CallSimulator(config(gateway)).run(expect_transfer())
    assert result.ok, result.errors
    assert gateway.actions == [] and result.action_url is None and result.action_status is None
    assert result.said_after_close == [GOODBYE] and result.dialed == TRANSFER_TO
