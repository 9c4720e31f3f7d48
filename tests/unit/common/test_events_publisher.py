"""CallEventPublisher against a stand-in JetStream: numbering, order, message ids, retries,
and that recording an event never blocks or raises."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import nats.errors
import pytest

from switchboard_common.event_stream import CallEventPublisher
from switchboard_common.events import MSG_ID_HEADER, STREAM_NAME, TokenUsage, parse_event

pytestmark = pytest.mark.timeout(10)


@dataclass
class Ack:
    duplicate: bool = False


@dataclass
class FakeJetStream:
    """Records publishes; ``fail`` makes the next N calls raise; ``gate`` holds every publish."""

    fail: int = 0
    gate: asyncio.Event | None = None
    calls: list[tuple[str, dict[str, Any], dict[str, str], str | None]] = field(
        default_factory=list
    )
    stored: dict[str, bytes] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0

    async def publish(
        self,
        subject: str,
        payload: bytes,
        timeout: float | None = None,  # noqa: ASYNC109 - the signature of js.publish
        stream: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Ack:
        assert headers is not None
        self.calls.append((subject, json.loads(payload), dict(headers), stream))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.fail:
                self.fail -= 1
                raise nats.errors.TimeoutError
            ident = headers[MSG_ID_HEADER]
            duplicate = ident in self.stored
            self.stored.setdefault(ident, payload)
            return Ack(duplicate=duplicate)
        finally:
            self.in_flight -= 1


def publisher(js: FakeJetStream, **options: Any) -> CallEventPublisher:
    return CallEventPublisher(js, "acme", "CA1", retry_backoff_s=0, **options)  # type: ignore[arg-type]


async def test_events_are_numbered_and_published_in_order_with_message_ids() -> None:
    js = FakeJetStream()
    pub = publisher(js)
    pub.call_started(agent_id="a1", gateway_id="g1", from_number="+1", to_number="+2")
    pub.caller_turn("hello", "i1")
    pub.agent_turn("hi", "i2", interrupted=True, played_ms=10, produced_ms=20)
    pub.tool_called("take_message", "{}", ok=True, output="ok", latency_ms=3.0)
    pub.dtmf("5")
    pub.transfer("+3", ok=False, reason="nope")
    pub.call_ended(duration_s=1.5, caller_turns=1, agent_turns=1, usage=TokenUsage(total_tokens=3))
    await pub.aclose()
    types = [c[1]["type"] for c in js.calls]
    assert types == [
        "call_started", "caller_turn", "agent_turn", "tool_called", "dtmf", "transfer",
        "call_ended",
    ]  # fmt: skip
    assert [c[1]["seq"] for c in js.calls] == list(range(1, 8))
    assert [c[2][MSG_ID_HEADER] for c in js.calls] == [f"CA1:{n}" for n in range(1, 8)]
    assert all(c[0] == f"sb.events.acme.CA1.{c[1]['type']}" for c in js.calls)
    assert all(c[3] == STREAM_NAME for c in js.calls)
    assert all(parse_event(json.dumps(c[1])) is not None for c in js.calls)
    assert (pub.published, pub.failed, pub.dropped, pub.last_seq) == (7, 0, 0, 7)
    assert js.max_in_flight == 1  # serialised: each ack awaited before the next publish


async def test_recording_does_not_wait_for_the_bus() -> None:
    gate = asyncio.Event()
    js = FakeJetStream(gate=gate)
    pub = publisher(js)
    events = [pub.caller_turn(f"turn {n}") for n in range(5)]
    assert [e.seq if e else None for e in events] == [1, 2, 3, 4, 5]
    assert pub.pending == 5
    assert not await pub.flush(timeout_s=0.05)  # held by the gate: nothing acknowledged
    gate.set()
    assert await pub.flush(timeout_s=5)
    assert [c[1]["text"] for c in js.calls] == [f"turn {n}" for n in range(5)]
    await pub.aclose()


async def test_a_failed_publish_is_retried_under_the_same_message_id() -> None:
    js = FakeJetStream(fail=2)
    pub = publisher(js, attempts=3)
    pub.caller_turn("hello")
    pub.caller_turn("again")
    await pub.aclose()
    assert [c[2][MSG_ID_HEADER] for c in js.calls] == ["CA1:1", "CA1:1", "CA1:1", "CA1:2"]
    assert (pub.published, pub.failed) == (2, 0)


async def test_an_event_that_keeps_failing_is_given_up_and_the_rest_still_go() -> None:
    js = FakeJetStream(fail=3)
    pub = publisher(js, attempts=3)
    pub.caller_turn("lost")
    pub.caller_turn("kept")
    await pub.aclose()
    assert (pub.published, pub.failed) == (1, 1)
    assert list(js.stored) == ["CA1:2"]  # a gap at 1: seq is never reused


async def test_a_duplicate_ack_is_counted_not_stored_twice() -> None:
    js = FakeJetStream()
    js.stored["CA1:1"] = b"{}"  # as if a lost ack had already stored it
    pub = publisher(js)
    pub.dtmf("1")
    await pub.aclose()
    assert (pub.published, pub.duplicates) == (0, 1)


async def test_unexpected_errors_never_escape() -> None:
    class Broken(FakeJetStream):
        async def publish(self, *args: Any, **kwargs: Any) -> Ack:
            raise RuntimeError("boom")

    pub = publisher(Broken())
    pub.dtmf("1")
    pub.dtmf("2")
    await pub.aclose()
    assert pub.failed == 2


async def test_a_full_queue_and_a_closed_publisher_drop_with_a_count() -> None:
    gate = asyncio.Event()
    js = FakeJetStream(gate=gate)
    pub = publisher(js, max_pending=2)
    for n in range(4):
        pub.dtmf(str(n))
    # recorded without yielding to the loop: two fit, two do not
    assert pub.dropped == 2
    gate.set()
    await pub.aclose()
    assert [c[1]["digit"] for c in js.calls] == ["0", "1"]
    late = pub.dtmf("9")
    assert late is not None and late.seq == pub.last_seq == 5
    assert pub.dropped == 3
    assert all(c[1]["digit"] != "9" for c in js.calls)


async def test_close_is_bounded_when_the_bus_hangs() -> None:
    js = FakeJetStream(gate=asyncio.Event())  # never opens
    pub = publisher(js)
    pub.caller_turn("stuck")
    pub.caller_turn("behind")
    await pub.aclose(timeout_s=0.05)
    assert pub.dropped == 2  # the one in flight (cancelled) and the one behind it
    assert pub.pending == 0
    assert await pub.flush(timeout_s=1)


def test_ids_are_checked_up_front() -> None:
    with pytest.raises(ValueError, match="subject token"):
        CallEventPublisher(FakeJetStream(), "acme", "bad.call")  # type: ignore[arg-type]


async def test_an_idle_publisher_holds_no_task() -> None:
    js = FakeJetStream()
    pub = publisher(js)
    pub.dtmf("1")
    assert await pub.flush(timeout_s=5)
    assert pub._worker is not None and pub._worker.done()
    pub.dtmf("2")  # a new task picks the next event up
    assert await pub.flush(timeout_s=5)
    assert [c[1]["seq"] for c in js.calls] == [1, 2]
    await pub.aclose()


async def test_invalid_values_are_dropped_not_raised() -> None:
    js = FakeJetStream()
    pub = publisher(js)
    assert pub.call_started(agent_id="not a token", gateway_id="g1") is None
    turn = pub.agent_turn("hi", played_ms=-3, produced_ms=-1)  # clamped, not refused
    assert turn is not None and (turn.played_ms, turn.produced_ms) == (0, 0)
    await pub.aclose()
    assert pub.dropped == 1
    assert [c[1]["seq"] for c in js.calls] == [2]  # the invalid one left a gap
