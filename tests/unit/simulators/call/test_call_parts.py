"""The simulator's pieces on their own: TwiML, URL mapping and signing, WAV I/O, scenarios,
the shipped sample, transcript lines."""

from __future__ import annotations

import struct
import wave
from pathlib import Path
from types import SimpleNamespace

import pytest
from twilio.request_validator import RequestValidator

from switchboard_common.messages import ToolCallEvent, TranscriptEvent
from switchboard_sim.call.audio import Utterance, read_wav_ulaw, ulaw_wav_bytes, write_ulaw_wav
from switchboard_sim.call.scenario import AgentDone, BargeIn, Scenario, ScenarioError
from switchboard_sim.call.signing import (
    UrlMapError,
    map_http_url,
    map_stream_url,
    resolve_url,
    twilio_signature,
)
from switchboard_sim.call.transcript import TranscriptFollower, describe_event
from switchboard_sim.call.twiml import ConnectStream, Dial, Hangup, Say, TwimlError, parse_twiml

from .fake_gateway import tone

SAMPLES = Path(__file__).resolve().parents[4] / "simulators" / "samples"


def test_twiml_connect_then_say_hangup() -> None:
    verbs = parse_twiml(
        '<?xml version="1.0"?><Response><Connect><Stream url="wss://h/twilio/media">'
        '<Parameter name="call_id" value="CA1"/><Parameter name="business_id" value="b"/>'
        "</Stream></Connect><Say>Bye &amp; thanks</Say><Hangup/></Response>"
    )
    assert verbs == [
        ConnectStream("wss://h/twilio/media", {"call_id": "CA1", "business_id": "b"}),
        Say("Bye & thanks"),
        Hangup(),
    ]


def test_twiml_connect_action_and_dial() -> None:
    verbs = parse_twiml(
        '<Response><Connect action="/twilio/after" method="get">'
        '<Stream url="wss://h/m"/></Connect></Response>'
    )
    assert verbs == [ConnectStream("wss://h/m", {}, action="/twilio/after", method="GET")]
    (plain,) = parse_twiml('<Response><Connect><Stream url="wss://h/m"/></Connect></Response>')
    assert isinstance(plain, ConnectStream) and (plain.action, plain.method) == (None, "POST")
    assert parse_twiml(
        "<Response><Dial> +15551234567 </Dial><Dial><Number>+15550001</Number></Dial></Response>"
    ) == [Dial("+15551234567"), Dial("+15550001")]


@pytest.mark.parametrize(
    "bad",
    [
        "<Response><Gather/></Response>",
        "<Nope/>",
        "<Response><Connect/></Response>",
        "<<",
        "<Response><Dial/></Response>",
        "<Response><Dial><Number/></Dial></Response>",
        "<Response><Dial><Client>bob</Client></Dial></Response>",
        "<Response><Dial><Number>+1</Number><Number>+2</Number></Dial></Response>",
        '<Response><Connect method="PUT"><Stream url="wss://h/m"/></Connect></Response>',
    ],
)
def test_twiml_rejects_what_it_cannot_follow(bad: str) -> None:
    with pytest.raises(TwimlError):
        parse_twiml(bad)


def test_stream_url_maps_public_to_gateway() -> None:
    assert (
        map_stream_url(
            "wss://voice.example.com/twilio/media?x=1",
            "https://voice.example.com",
            "http://127.0.0.1:9",
        )
        == "ws://127.0.0.1:9/twilio/media?x=1"
    )
    assert (
        map_stream_url(
            "wss://v.example.com/sb/twilio/media", "https://v.example.com/sb/", "http://127.0.0.1:9"
        )
        == "ws://127.0.0.1:9/twilio/media"
    )
    with pytest.raises(UrlMapError, match="wss"):
        map_stream_url(
            "ws://voice.example.com/m", "https://voice.example.com", "http://127.0.0.1:9"
        )
    with pytest.raises(UrlMapError, match="public host"):
        map_stream_url(
            "wss://elsewhere.example.com/m", "https://voice.example.com", "http://127.0.0.1:9"
        )


def test_action_url_resolves_and_maps_public_to_gateway() -> None:
    voice = "https://v.example.com/sb/twilio/voice"
    assert resolve_url("after?x=1", voice) == "https://v.example.com/sb/twilio/after?x=1"
    assert resolve_url("/sb/next", voice) == "https://v.example.com/sb/next"
    assert resolve_url("https://v.example.com/a", voice) == "https://v.example.com/a"
    assert (
        map_http_url(
            "https://v.example.com/sb/twilio/after?x=1",
            "https://v.example.com/sb/",
            "http://127.0.0.1:9",
        )
        == "http://127.0.0.1:9/twilio/after?x=1"
    )
    with pytest.raises(UrlMapError, match="public host"):
        map_http_url("https://elsewhere.example.com/a", "https://v.example.com", "http://h:9")
    with pytest.raises(UrlMapError, match="http"):
        map_http_url("ftp://v.example.com/a", "https://v.example.com", "http://h:9")


def test_signature_matches_twilio_validator() -> None:
    params = {"CallSid": "CA" + "a" * 32, "From": "+15557777"}
    sig = twilio_signature("tok", "https://voice.example.com/twilio/voice", params)
    v = RequestValidator("tok")
    assert v.validate("https://voice.example.com/twilio/voice", params, sig)
    assert not RequestValidator("other").validate(
        "https://voice.example.com/twilio/voice", params, sig
    )


def test_ulaw_wav_roundtrip_and_header(tmp_path: Path) -> None:
    data = tone(100) + b"\xff" * 3
    path = tmp_path / "a.wav"
    write_ulaw_wav(path, data)
    raw = path.read_bytes()
    tag, ch, rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", raw, 20)
    assert (tag, ch, rate, byte_rate, align, bits) == (7, 1, 8000, 8000, 1, 8)
    assert struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8
    assert read_wav_ulaw(path) == data
    assert ulaw_wav_bytes(data) == raw


def test_pcm_wavs_are_converted(tmp_path: Path) -> None:
    for rate in (8000, 16000):
        path = tmp_path / f"pcm{rate}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(struct.pack("<h", 8000) * (rate // 10))  # 100 ms
        ulaw = read_wav_ulaw(path)
        assert abs(len(ulaw) - 800) <= 2
        assert set(ulaw[10:-10]) != {0xFF}


def test_utterance_frames_and_speech_end() -> None:
    utt = Utterance.from_ulaw(tone(100) + b"\xff" * 500, "x")
    assert len(utt.frames_b64) == 9  # 600 bytes rounded up to 4 frames of silence
    assert utt.speech_end == 4
    assert utt.duration_ms == 180


def test_scenario_parsing(tmp_path: Path) -> None:
    write_ulaw_wav(tmp_path / "a.wav", tone(100))
    sc = Scenario.from_dict(
        {
            "turns": [
                {"say": "a", "wav": "a.wav"},
                {"say": "a", "wav": "a.wav", "after": {"barge_in_ms": 600}},
                {"dtmf": "1#", "after": "now"},
                {"hangup": True},
            ]
        },
        base_dir=tmp_path,
    )
    assert isinstance(sc.turns[0].after, AgentDone)
    assert sc.turns[1].after == BargeIn(600)
    assert sc.turns[2].digits == "1#"
    transfer = Scenario.from_dict({"turns": [{"expect_transfer": " +15551234567 "}]}).turns[0]
    assert (transfer.kind, transfer.number, transfer.expects_end) == (
        "expect_transfer",
        "+15551234567",
        True,
    )
    assert transfer.describe() == "expect transfer to +15551234567"
    # A transfer nobody takes brings the caller back: the scenario goes on after it.
    back = Scenario.from_dict({"turns": [{"expect_transfer": "+15551234567"}, {"hangup": True}]})
    assert [t.kind for t in back.turns] == ["expect_transfer", "hangup"]
    for bad, match in [
        ({"turns": []}, "at least one"),
        ({"turns": [{"say": "a"}]}, "needs a 'wav'"),
        ({"turns": [{"say": "a", "wav": "missing.wav"}]}, "turn 1"),
        ({"turns": [{"dtmf": "x"}]}, "dtmf"),
        ({"turns": [{"hangup": True}, {"dtmf": "1"}]}, "last turn"),
        ({"turns": [{"expect_hangup": True}, {"dtmf": "1"}]}, "last turn"),
        ({"turns": [{"expect_transfer": ""}]}, "expect_transfer"),
        ({"turns": [{"expect_transfer": True}]}, "expect_transfer"),
        ({"turns": [{"dtmf": "1", "after": {"soon": 1}}]}, "'after'"),
    ]:
        with pytest.raises(ScenarioError, match=match):
            Scenario.from_dict(bad, base_dir=tmp_path)


def test_shipped_sample_is_small_and_loads() -> None:
    sc = Scenario.load(SAMPLES / "opening_hours.json")
    kinds = [t.kind for t in sc.turns]
    assert kinds == ["say", "say", "say", "hangup"]
    assert sc.turns[0].text == "Hi, what are your opening hours?"
    assert sc.turns[2].after == BargeIn(700)
    for t in sc.turns[:3]:
        assert t.utterance is not None and t.utterance.duration_ms <= 3000
    assert sum(p.stat().st_size for p in SAMPLES.glob("*.wav")) < 150_000
    assert (SAMPLES / "make_samples.sh").exists()


async def test_transcript_lines_and_call_filter() -> None:
    seen: list[str] = []
    follower = TranscriptFollower("nats://127.0.0.1:1", lambda e: seen.append(describe_event(e)))
    follower.call_sid = "CA1"
    mine = TranscriptEvent(call_id="CA1", business_id="b", speaker="agent", text="Hello")  # type: ignore[arg-type]
    other = TranscriptEvent(call_id="CA2", business_id="b", speaker="caller", text="Hi")  # type: ignore[arg-type]
    tool = ToolCallEvent(
        call_id="CA1", business_id="b", name="take_message", arguments='{"name":"Sam"}',
        ok=True, output="saved", latency_ms=12.4,
    )  # fmt: skip
    for ev in (mine, other, tool):
        await follower._handle(SimpleNamespace(data=ev.to_bytes(), subject="sb.transcript.b.x"))
    await follower._handle(SimpleNamespace(data=b"{}", subject="sb.transcript.b.x"))
    assert seen == ["agent: Hello", 'tool take_message({"name":"Sam"}) -> saved (12 ms)']
    assert len(follower.errors) == 1
