"""Call-event contracts: subjects, the models on the wire, tolerant reading, rendering."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from switchboard_common.events import (
    ALL_EVENTS,
    EVENT_MODELS,
    AgentTurnEvent,
    CallEndedEvent,
    CallerTurnEvent,
    CallResumedEvent,
    CallStartedEvent,
    DtmfEvent,
    EventType,
    TokenUsage,
    ToolCalledEvent,
    TransferEvent,
    any_call_event_adapter,
    business_events,
    call_events,
    describe,
    event_subject,
    events_filter,
    msg_id,
    parse_event,
    transcript_entries,
)

ENV: dict[str, Any] = {"call_id": "CA1", "business_id": "acme"}
AT = datetime(2026, 11, 25, 14, 3, 1, 120000, tzinfo=UTC)


def one_of_each() -> list[Any]:
    return [
        CallStartedEvent(
            **ENV, seq=1, at=AT, from_number="+1555", to_number="+1666", agent_id="a1",
            gateway_id="g1",
        ),
        CallerTurnEvent(**ENV, seq=2, at=AT, text="Are you open?", item_id="i1"),
        AgentTurnEvent(
            **ENV, seq=3, at=AT, text="Yes, until ten.", item_id="i2", interrupted=True,
            played_ms=800, produced_ms=2000,
        ),
        ToolCalledEvent(
            **ENV, seq=4, at=AT, name="take_message", arguments='{"message":"hi"}', ok=True,
            output="taken", latency_ms=12.5,
        ),
        DtmfEvent(**ENV, seq=5, at=AT, digit="#"),
        TransferEvent(**ENV, seq=6, at=AT, to_number="+1777", ok=False, reason="busy"),
        CallResumedEvent(
            **ENV, seq=7, at=AT, agent_id="a2", previous_agent_id="a1", epoch=2,
            reason="agent_lost",
        ),
        CallEndedEvent(
            **ENV, seq=8, at=AT, duration_s=31.5, caller_turns=1, agent_turns=1,
            usage=TokenUsage(input_tokens=10, output_tokens=5, total_tokens=15),
            reason="caller_hung_up",
        ),
    ]  # fmt: skip


def test_subjects_put_business_then_call_then_type() -> None:
    assert event_subject("acme", "CA1", "dtmf") == "sb.events.acme.CA1.dtmf"
    assert business_events("acme") == "sb.events.acme.>"
    assert call_events("CA1") == "sb.events.*.CA1.>"
    assert ALL_EVENTS == "sb.events.>"
    assert events_filter() == "sb.events.>"
    assert events_filter("acme") == "sb.events.acme.>"
    assert events_filter(call_id="CA1") == "sb.events.*.CA1.>"
    assert events_filter("acme", "CA1") == "sb.events.acme.CA1.>"
    assert msg_id("CA1", 7) == "CA1:7"


@pytest.mark.parametrize("bad", ["a.b", "*", ">", "has space", "", "x" * 65])
def test_subjects_refuse_ids_that_would_change_their_shape(bad: str) -> None:
    builds: list[Callable[[], str]] = [
        lambda: event_subject(bad, "CA1", "dtmf"),
        lambda: event_subject("acme", bad, "dtmf"),
        lambda: call_events(bad),
        lambda: business_events(bad),
        lambda: msg_id(bad, 1),
    ]
    for build in builds:
        with pytest.raises(ValueError, match="subject token"):
            build()


def test_every_event_type_has_a_model_and_its_subject_ends_with_the_type() -> None:
    assert set(EVENT_MODELS) == set(get_args(EventType))
    events = one_of_each()
    assert {e.type for e in events} == set(EVENT_MODELS)
    for event in events:
        assert event.subject == f"sb.events.acme.CA1.{event.type}"


def test_every_event_round_trips_through_the_union_adapter() -> None:
    for event in one_of_each():
        data = event.to_bytes()
        back = any_call_event_adapter.validate_json(data)
        assert type(back) is type(event)
        assert back == event
        wire = json.loads(data)
        assert wire["v"] == 1
        assert wire["at"] == "2026-11-25T14:03:01.120000Z"
        assert {"call_id", "business_id", "seq", "at", "type"} <= wire.keys()


def test_readers_ignore_unknown_fields_and_use_defaults() -> None:
    raw = {**ENV, "v": 1, "type": "agent_turn", "seq": 3, "at": "2026-01-01T00:00:00Z"}
    event = parse_event(json.dumps({**raw, "text": "hi", "new_field": {"x": 1}}))
    assert isinstance(event, AgentTurnEvent)
    assert (event.interrupted, event.played_ms, event.produced_ms) == (False, None, 0)


def test_unknown_types_versions_and_garbage_are_skipped_not_raised() -> None:
    good = json.loads(one_of_each()[1].to_bytes())
    assert parse_event(json.dumps(good)) is not None
    assert parse_event(json.dumps({**good, "type": "sentiment"})) is None
    assert parse_event(json.dumps({**good, "v": 2})) is None
    assert parse_event(b"not json") is None
    assert parse_event(json.dumps({**good, "seq": 0})) is None


def test_times_are_utc() -> None:
    plus_two = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    event = DtmfEvent(**ENV, seq=1, at=plus_two, digit="1")
    assert event.at == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert event.at.utcoffset() == timedelta(0)
    naive = parse_event(
        json.dumps(
            {**ENV, "v": 1, "type": "dtmf", "seq": 1, "at": "2026-01-01T10:00:00", "digit": "1"}
        )
    )
    assert naive is not None and naive.at == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert DtmfEvent(**ENV, seq=1, digit="1").at.tzinfo is not None


@pytest.mark.parametrize(
    "change",
    [{"seq": 0}, {"call_id": "a.b"}, {"business_id": "*"}, {"played_ms": -1}, {"text": None}],
)
def test_contract_violations_are_refused(change: dict[str, Any]) -> None:
    fields = {**ENV, "seq": 1, "text": "hi", **change}
    with pytest.raises(ValidationError):
        AgentTurnEvent(**fields)


def test_transcript_has_turns_and_tools_in_order() -> None:
    entries = transcript_entries(one_of_each())
    assert [e.speaker for e in entries] == ["caller", "agent", "tool"]
    assert [e.line for e in entries] == [
        "caller: Are you open?",
        "agent: Yes, until ten. [interrupted at 800 of 2000 ms]",
        'tool take_message({"message":"hi"}) ok in 12 ms: taken',
    ]
    assert entries[2].tool == "take_message" and entries[2].ok is True


def test_describe_gives_one_line_per_event() -> None:
    lines = [describe(e) for e in one_of_each()]
    assert all("\n" not in line for line in lines)
    assert lines[0].startswith("2026-11-25T14:03:01.120Z acme/CA1 #1 call_started from +1555")
    assert lines[4].endswith("dtmf #")
    assert lines[6].endswith("agent a2 took over from a1 at epoch 2 (agent_lost)")
    assert "15 tokens" in lines[7] and "caller_hung_up" in lines[7]
