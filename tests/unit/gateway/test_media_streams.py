"""Parsing Twilio's Media Streams messages: tolerant of nothing malformed, lean for media."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
#: The keys each event's object is read for.
_KEYS = {
    "start": ["streamSid", "callSid", "accountSid", "customParameters", "mediaFormat"],
    "media": ["track", "payload"],
    "mark": ["name"],
    "dtmf": ["digit"],
}


@st.composite
def _messages(draw: st.DrawFn) -> dict[str, object]:
    """Twilio-shaped messages with any JSON value in any field the reader looks at."""
    event = draw(st.sampled_from(sorted(_KEYS)))
    value = st.one_of(st.text(max_size=12), _JSON)  # half the time a string, as Twilio sends
    fields = st.dictionaries(st.sampled_from(_KEYS[event]), value, max_size=5)
    return {"event": event, "streamSid": draw(_JSON), event: draw(fields | _JSON)}


@settings(max_examples=1500)
@given(_messages())
def test_any_message_is_read_or_refused_with_a_media_stream_error(message: dict) -> None:
    """Whatever a peer sends, the reader answers with a value or a MediaStreamError, which the
    session counts and drops; any other exception would end that caller's call."""
    read = {
        "start": wire.start_of,
        "media": wire.inbound_audio_of,
        "mark": wire.mark_name_of,
        "dtmf": wire.dtmf_digit_of,
    }[str(message["event"])]
    with contextlib.suppress(wire.MediaStreamError):
        read(message)


@settings(max_examples=500)
@given(st.text(max_size=40) | st.binary(max_size=40))
def test_any_bytes_parse_or_are_refused_with_a_media_stream_error(raw: str | bytes) -> None:
    with contextlib.suppress(wire.MediaStreamError):
        wire.parse(raw)


@pytest.mark.parametrize("payload", ["é", "\u00ff\u00fe", "AAAA\u0663"])
def test_non_ascii_payloads_are_refused(payload: str) -> None:
    with pytest.raises(wire.MediaStreamError, match="base64"):
        wire.inbound_audio_of({"event": "media", "media": {"payload": payload}})
