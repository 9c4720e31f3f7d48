"""Pure units of the Realtime simulator: event round-trips, VAD, script, voice."""

from __future__ import annotations

import inspect
import io
import json
import wave
from pathlib import Path
from typing import Any, cast

import pytest
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.realtime import RealtimeConversationItemUserMessage, RealtimeResponse
from openai.types.realtime.realtime_conversation_item_user_message import Content

from switchboard_sim.realtime.audio import AudioFormat, audioop
from switchboard_sim.realtime.events import SERVER_EVENT_ADAPTER, EventFactory, encode
from switchboard_sim.realtime.responder import assistant_item
from switchboard_sim.realtime.script import (
    Script,
    placeholder_transcript,
    render_output,
    say_exactly,
)
from switchboard_sim.realtime.session import default_session, merge_session
from switchboard_sim.realtime.vad import EnergyVad, VadConfig, level
from switchboard_sim.realtime.voice import VoiceSynth, synthetic_speech

from .realtime_sim_helpers import silence_ulaw, tone_ulaw

PCMU = AudioFormat("audio/pcmu", 8000)


def _every_server_event(f: EventFactory) -> dict[str, Any]:
    user = RealtimeConversationItemUserMessage(
        id="item_u", type="message", role="user", content=[Content(type="input_audio")]
    )
    bot = assistant_item("item_a", "completed", "output_audio", "hi")
    resp = RealtimeResponse(id="resp_1", object="realtime.response", status="in_progress")
    return {
        "session_created": f.session_created(default_session("sess_1", "gpt-realtime")),
        "session_updated": f.session_updated(default_session("sess_1", "gpt-realtime")),
        "error": f.error("invalid_value", "bad", param="type", event_id="e1"),
        "speech_started": f.speech_started(100, "item_u"),
        "speech_stopped": f.speech_stopped(900, "item_u"),
        "committed": f.committed("item_u", None),
        "cleared": f.cleared(),
        "item_added": f.item_added(user, None),
        "item_done": f.item_done(bot, "item_u"),
        "item_retrieved": f.item_retrieved(bot),
        "item_deleted": f.item_deleted("item_u"),
        "item_truncated": f.item_truncated("item_a", 0, 500),
        "transcription_completed": f.transcription_completed("item_u", "hello", 800),
        "response_created": f.response_created(resp),
        "response_done": f.response_done(resp),
        "output_item_added": f.output_item_added("resp_1", 0, bot),
        "output_item_done": f.output_item_done("resp_1", 0, bot),
        "content_part_added": f.content_part_added("resp_1", "item_a", 0, "audio"),
        "content_part_done": f.content_part_done("resp_1", "item_a", 0, "text", "hi"),
        "audio_delta": f.audio_delta("resp_1", "item_a", 0, "//8="),
        "audio_done": f.audio_done("resp_1", "item_a", 0),
        "transcript_delta": f.transcript_delta("resp_1", "item_a", 0, "hi"),
        "transcript_done": f.transcript_done("resp_1", "item_a", 0, "hi"),
        "text_delta": f.text_delta("resp_1", "item_a", 0, "hi"),
        "text_done": f.text_done("resp_1", "item_a", 0, "hi"),
        "arguments_delta": f.arguments_delta("resp_1", "item_f", 0, "call_1", "{"),
        "arguments_done": f.arguments_done("resp_1", "item_f", 0, "call_1", "book", "{}"),
    }


def test_every_server_event_round_trips_through_the_sdk_union() -> None:
    factory = EventFactory("t_")
    built = _every_server_event(factory)
    builders = {
        name
        for name, fn in inspect.getmembers(EventFactory, inspect.isfunction)
        if not name.startswith("_") and name != "new_id"
    }
    assert builders == set(built), "add new EventFactory builders to this test"
    for name, event in built.items():
        wire = encode(event)
        strict = SERVER_EVENT_ADAPTER.validate_json(wire)  # raises on any mismatch
        assert type(strict) is type(event), name
        assert strict.model_dump(exclude_unset=True) == json.loads(wire), name
        # The SDK's own parser (it does not validate, so compare the result too).
        parsed = AsyncRealtimeConnection.parse_event(cast(Any, None), wire)
        assert type(parsed) is type(event), name
        assert parsed == strict, name


def test_vad_finds_speech_with_padding_and_silence_timeout() -> None:
    vad = EnergyVad(VadConfig(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500), PCMU)
    events = vad.feed(silence_ulaw(1000) + tone_ulaw(600) + silence_ulaw(499))
    assert [(e.kind, e.audio_ms) for e in events] == [("speech_started", 700)]
    events = vad.feed(silence_ulaw(20))
    assert [(e.kind, e.audio_ms) for e in events] == [("speech_stopped", 1000 + 600 + 500)]


def test_vad_is_independent_of_chunking_and_respects_threshold() -> None:
    audio = silence_ulaw(200) + tone_ulaw(300) + silence_ulaw(600)
    whole = EnergyVad(VadConfig(), PCMU).feed(audio)
    chunked_vad = EnergyVad(VadConfig(), PCMU)
    chunked = [e for i in range(0, len(audio), 37) for e in chunked_vad.feed(audio[i : i + 37])]
    assert whole == chunked and len(whole) == 2
    quiet = tone_ulaw(300, amplitude=300)  # ≈ -43 dBFS: line noise, not speech
    assert level(audioop.ulaw2lin(quiet, 2)) < 0.5
    assert EnergyVad(VadConfig(), PCMU).feed(quiet + silence_ulaw(600)) == []
    assert EnergyVad(VadConfig(threshold=0.2), PCMU).feed(quiet + silence_ulaw(600)) != []


def test_vad_start_never_reaches_into_committed_audio() -> None:
    vad = EnergyVad(VadConfig(prefix_padding_ms=300), PCMU)
    vad.feed(silence_ulaw(1000))
    vad.reset_buffer()  # e.g. a commit at 1000 ms
    events = vad.feed(silence_ulaw(100) + tone_ulaw(100))
    assert events[0].audio_ms == 1000


def test_script_helpers(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"turns": [{"caller": "Hi", "agent": "Hello"}]}))
    script = Script.load(str(path))
    assert script.turn(0) is not None and script.turn(0).agent == "Hello"  # type: ignore[union-attr]
    assert script.turn(1) is None
    assert script.turn_for_text("  hi ") is script.turns[0]
    assert Script.load(None).turns == []
    with pytest.raises(ValueError):
        Script.load({"turns": [{"agent": "no caller"}]})
    assert say_exactly('Be nice. Say exactly: "Hello there, friend." Then wait.') == (
        "Hello there, friend."
    )
    assert say_exactly("say exactly: “Curly quotes.”") == "Curly quotes."
    assert say_exactly("Greet the caller.") is None
    assert render_output('{"ok": true, "ids": [1, 2]}') == "ok: yes, ids: [1,2]"
    assert render_output("plain text") == "plain text"
    assert len(render_output(json.dumps({"k": "x" * 500}))) == 120
    assert placeholder_transcript(3, 1400) == "(caller speech 3, 1.4 s)"


def test_session_merge_replaces_whole_turn_detection_but_merges_audio() -> None:
    base = default_session("sess_1", "gpt-realtime")
    td = {"type": "server_vad", "silence_duration_ms": 200}
    merged = merge_session(base, {"type": "realtime", "audio": {"input": {"turn_detection": td}}})
    assert merged["audio"]["input"]["turn_detection"] == td
    assert merged["audio"]["output"] == base["audio"]["output"]
    assert base["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 500  # not mutated


def test_synthetic_voice_is_deterministic_and_proportional() -> None:
    short = synthetic_speech("Hello there.")
    long = synthetic_speech("Hello there, thanks for calling Acme, how can I help you today?")
    assert short == synthetic_speech("Hello there.")
    assert len(long) > 3 * len(short) // 2
    # 65 ms per character, roughly
    assert abs(len(long) / 8 - 65 * 63) < 300
    assert level(audioop.ulaw2lin(long, 2)) > 0.5  # loud enough to be speech


def test_espeak_wav_is_converted_to_8khz_ulaw_and_cached() -> None:
    calls: list[str] = []

    def fake_espeak(text: str) -> bytes:
        calls.append(text)
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(22050)
            w.writeframes(b"\x10\x00" * 22050)  # one second of 16-bit mono
        return buf.getvalue()

    voice = VoiceSynth(espeak=fake_espeak)
    assert voice.engine == "espeak-ng"
    audio = voice.synthesize("Hi")
    assert abs(len(audio) - 8000) < 20  # one second at 8 kHz, one byte per sample
    assert voice.synthesize("Hi") is audio and calls == ["Hi"]
    broken = VoiceSynth(espeak=lambda text: b"garbage")
    assert broken.synthesize("Hi") == synthetic_speech("Hi")  # falls back, never fails


def test_output_format_conversion() -> None:
    ulaw = tone_ulaw(100)
    assert PCMU.from_ulaw8k(ulaw) is ulaw
    pcm = AudioFormat("audio/pcm", 24000).from_ulaw8k(ulaw)
    assert abs(len(pcm) - 100 * 48) <= 4
    assert len(AudioFormat("audio/pcma", 8000).from_ulaw8k(ulaw)) == len(ulaw)
    assert AudioFormat.from_config({"type": "audio/pcmu"}) == PCMU
