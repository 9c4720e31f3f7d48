"""The bus contracts: subjects stay one token per id, messages round-trip, audio stays raw."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from switchboard_common import subjects
from switchboard_common.audio import (
    CHUNK_HEADER_SIZE,
    AudioFormatError,
    decode_agent_chunk,
    encode_agent_chunk,
    ulaw_ms,
)
from switchboard_common.messages import (
    AgentHeartbeat,
    CallOffer,
    CallStarted,
    ClearPlayback,
    HangUp,
    PlaybackIdle,
    agent_control_adapter,
    gateway_control_adapter,
)


def test_subjects_refuse_ids_that_would_change_their_shape() -> None:
    assert subjects.caller_audio("CA123") == "sb.call.CA123.audio.caller"
    for bad in ("a.b", "*", ">", "has space", ""):
        with pytest.raises(ValueError, match="subject token"):
            subjects.caller_audio(bad)


def test_transcript_subject_puts_business_before_call() -> None:
    assert subjects.transcript("acme", "CA1") == "sb.transcript.acme.CA1"
    assert subjects.business_transcripts("acme") == "sb.transcript.acme.*"


def test_agent_chunk_round_trip_without_copying_audio() -> None:
    audio = bytes(range(160))
    payload = encode_agent_chunk(42, audio)
    assert len(payload) == CHUNK_HEADER_SIZE + 160
    seq, view = decode_agent_chunk(payload)
    assert seq == 42
    assert isinstance(view, memoryview)
    assert bytes(view) == audio


@pytest.mark.parametrize("payload", [b"", b"\x01\x00", b"\x09\x00\x00\x00\x01abc"])
def test_bad_agent_chunks_are_refused(payload: bytes) -> None:
    with pytest.raises(AudioFormatError):
        decode_agent_chunk(payload)


def test_ulaw_duration() -> None:
    assert ulaw_ms(160) == 20


def test_control_messages_are_versioned_and_discriminated() -> None:
    started = CallStarted(call_id="CA1", stream_sid="MZ1", gateway_id="gw")
    parsed = agent_control_adapter.validate_json(started.to_bytes())
    assert isinstance(parsed, CallStarted)
    assert parsed.v == 1
    assert isinstance(
        agent_control_adapter.validate_json(PlaybackIdle(call_id="CA1", last_chunk=3).to_bytes()),
        PlaybackIdle,
    )
    assert isinstance(
        gateway_control_adapter.validate_json(ClearPlayback(call_id="CA1").to_bytes()),
        ClearPlayback,
    )
    assert isinstance(
        gateway_control_adapter.validate_json(HangUp(call_id="CA1").to_bytes()), HangUp
    )


def test_readers_tolerate_unknown_fields_but_not_unknown_versions() -> None:
    tolerant = b'{"v":1,"type":"playback.clear","call_id":"CA1","added_later":true}'
    assert isinstance(gateway_control_adapter.validate_json(tolerant), ClearPlayback)
    with pytest.raises(ValidationError):
        gateway_control_adapter.validate_json(b'{"v":2,"type":"playback.clear","call_id":"CA1"}')


def test_ids_in_messages_are_validated() -> None:
    with pytest.raises(ValidationError):
        CallOffer(call_id="CA.1", business_id="acme", gateway_id="gw")


def test_a_heartbeat_s_room_is_none_while_draining_and_never_negative() -> None:
    def beat(active: int, draining: bool = False) -> AgentHeartbeat:
        return AgentHeartbeat(
            agent_id="ag-1", active_calls=active, capacity=4, interval_s=0.25, draining=draining
        )

    assert beat(1).room == 3
    assert beat(6).room == 0  # over capacity (a resume replaced a call): no room, not -2
    assert beat(1, draining=True).room == 0
    # An older agent's beat, without the field, is read as not draining.
    older = (
        b'{"v":1,"type":"agent.heartbeat","agent_id":"ag-1","active_calls":1,'
        b'"capacity":4,"interval_s":0.25}'
    )
    assert AgentHeartbeat.model_validate_json(older).room == 3
