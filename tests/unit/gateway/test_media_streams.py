"""Parsing Twilio's Media Streams messages: tolerant of nothing malformed, lean for media."""

from __future__ import annotations

import base64
import json

import pytest

from switchboard_gateway.twilio import media_streams as wire


def _start(**overrides: object) -> dict[str, object]:
    start = {
        "streamSid": "MZ" + "a" * 32,
        "callSid": "CA" + "b" * 32,
        "accountSid": "AC" + "c" * 32,
        "tracks": ["inbound"],
        "customParameters": {"call_id": "CA1", "business_id": "acme", "agent_id": "a1"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    start.update(overrides)
    return {
        "event": "start",
        "sequenceNumber": "1",
        "start": start,
        "streamSid": start["streamSid"],
    }


def test_start_is_read_with_its_parameters() -> None:
    start = wire.start_of(wire.parse(json.dumps(_start())))
    assert start.stream_sid.startswith("MZ")
    assert start.custom_parameters["business_id"] == "acme"


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        '{"no_event": 1}',
        '{"event": 5}',
    ],
)
def test_unparseable_messages_raise_a_media_stream_error(raw: str) -> None:
    with pytest.raises(wire.MediaStreamError):
        wire.parse(raw)


@pytest.mark.parametrize(
    "start",
    [
        _start(streamSid="MZ.bad", callSid="CA1"),
        _start(callSid=None),
        _start(customParameters={"call_id": 5}),
        _start(mediaFormat={"encoding": "audio/l16", "sampleRate": 16000}),
    ],
)
def test_bad_starts_are_refused(start: dict[str, object]) -> None:
    with pytest.raises(wire.MediaStreamError):
        wire.start_of(start)


def test_media_payload_is_decoded_once_and_other_tracks_ignored() -> None:
    audio = bytes(range(160))
    payload = base64.b64encode(audio).decode()
    message = {"event": "media", "media": {"track": "inbound", "payload": payload}}
    assert wire.inbound_audio_of(message) == audio
    message["media"] = {"track": "outbound", "payload": payload}
    assert wire.inbound_audio_of(message) is None


@pytest.mark.parametrize("media", [{"payload": "***not base64***"}, {"payload": 12}, "text", None])
def test_bad_media_is_refused(media: object) -> None:
    with pytest.raises(wire.MediaStreamError):
        wire.inbound_audio_of({"event": "media", "media": media})


def test_dtmf_digits_are_checked() -> None:
    assert wire.dtmf_digit_of({"event": "dtmf", "dtmf": {"digit": "#"}}) == "#"
    with pytest.raises(wire.MediaStreamError):
        wire.dtmf_digit_of({"event": "dtmf", "dtmf": {"digit": "12"}})


def test_outbound_messages_are_valid_twilio_json() -> None:
    sid = "MZ" + "a" * 32
    assert json.loads(wire.media_message(sid, "AAEC")) == {
        "event": "media",
        "streamSid": sid,
        "media": {"payload": "AAEC"},
    }
    assert json.loads(wire.mark_message(sid, "7")) == {
        "event": "mark",
        "streamSid": sid,
        "mark": {"name": "7"},
    }
    assert json.loads(wire.clear_message(sid)) == {"event": "clear", "streamSid": sid}
