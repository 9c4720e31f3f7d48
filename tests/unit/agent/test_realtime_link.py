"""The Realtime link reads what the provider sends: audio deltas on the lean path, other
events through the SDK, and anything malformed counted and skipped, never fatal to a call."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any, cast

import pytest
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from prometheus_client import REGISTRY
from websockets.exceptions import ConnectionClosedOK
from websockets.frames import Close

from switchboard_agent.realtime.link import AudioDelta, RealtimeLink


class _Wire:
    """A connection that hands out scripted server messages, then closes."""

    def __init__(self, messages: list[bytes]) -> None:
        self._messages: Iterator[bytes] = iter(messages)

    async def recv_bytes(self) -> bytes:
        for message in self._messages:
            return message
        raise ConnectionClosedOK(Close(1000, ""), Close(1000, ""), True)

    def parse_event(self, raw: bytes) -> Any:
        return AsyncRealtimeConnection.parse_event(cast(AsyncRealtimeConnection, self), raw)


def _malformed_count() -> float:
    return REGISTRY.get_sample_value("switchboard_agent_realtime_malformed_total") or 0.0


def _delta(audio: str) -> bytes:
    return (
        b'{"type":"response.output_audio.delta","response_id":"resp_1","item_id":"item_1",'
        b'"output_index":0,"content_index":0,"event_id":"ev_1","delta":"' + audio.encode() + b'"}'
    )


async def test_malformed_events_are_skipped_and_counted() -> None:
    good = base64.b64encode(b"\xff" * 160).decode()
    wire = _Wire(
        [
            b"not json",
            _delta("not base64!"),
            _delta("\u00e9".encode().decode("latin-1")),
            b'{"type":"response.output_audio.delta","delta":7}',
            _delta(good),
            b'{"type":"response.done","event_id":"ev_2","response":{"id":"resp_1"}}',
        ]
    )
    link = RealtimeLink(cast(AsyncRealtimeConnection, wire))
    before = _malformed_count()

    first = await link.next_event()
    assert first == AudioDelta("resp_1", "item_1", b"\xff" * 160)
    second = await link.next_event()
    assert getattr(second, "type", None) == "response.done"
    assert _malformed_count() - before == 4
    with pytest.raises(ConnectionClosedOK):
        await link.next_event()
