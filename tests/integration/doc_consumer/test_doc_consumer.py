"""A consumer written only from docs/events.md receives what the project's publisher stores:
the documented subjects, fields and order. If this fails, the document is wrong (or the code
broke its contract), whichever changed."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext

from switchboard_common.event_stream import CallEventPublisher, ensure_stream
from switchboard_common.events import TokenUsage
from switchboard_sim.stack import LocalStack

from . import consumer

pytestmark = pytest.mark.timeout(60)

WAIT_S = 10.0
BUSINESS = "doc-bistro"


def test_the_consumer_knows_nothing_of_switchboard_code() -> None:
    source = Path(consumer.__file__).read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports either"
            imported.add(node.module or "")
    assert imported, "the check must see the imports"
    assert not [name for name in imported if "switchboard" in name.lower()], imported
    assert {name.split(".")[0] for name in imported} <= {
        "__future__",
        "asyncio",
        "json",
        "typing",
        "nats",
    }
    assert "switchboard_" not in source


@pytest.fixture(scope="module")
async def js() -> AsyncIterator[tuple[str, JetStreamContext]]:
    async with LocalStack() as stack:
        url = await stack.start_nats()
        nc = await nats.connect(url)
        try:
            jetstream = nc.jetstream()
            await ensure_stream(jetstream, retention_s=3600)
            yield url, jetstream
        finally:
            await nc.close()


async def publish(jetstream: JetStreamContext, call_id: str) -> list[str]:
    """One call with every event type, through the project's own publisher."""
    pub = CallEventPublisher(jetstream, BUSINESS, call_id)
    pub.call_started(
        agent_id="agent-7", gateway_id="gw-3", from_number="+15551234567", to_number="+15550100"
    )
    pub.agent_turn("Hello, how can I help?", "item_a", produced_ms=1600)
    pub.caller_turn("Can I book a table?", "item_b")
    pub.agent_turn(
        "Of course, for how", "item_c", interrupted=True, played_ms=700, produced_ms=2100
    )
    pub.tool_called(
        "take_message", '{"message":"table"}', ok=False, output="error: busy", latency_ms=2000.5
    )
    pub.dtmf("#")
    pub.transfer("+15550199", ok=True)
    pub.call_ended(
        duration_s=42.0,
        caller_turns=1,
        agent_turns=2,
        reason="agent_hung_up",
        usage=TokenUsage(input_tokens=7, output_tokens=3, total_tokens=10),
    )
    await pub.aclose(timeout_s=WAIT_S)
    assert pub.published == 8
    return [
        "call_started", "agent_turn", "caller_turn", "agent_turn", "tool_called", "dtmf",
        "transfer", "call_ended",
    ]  # fmt: skip


async def test_live_consumer_receives_the_call_in_order_with_documented_fields(
    js: tuple[str, JetStreamContext],
) -> None:
    url, jetstream = js
    live = consumer.LiveConsumer(url, BUSINESS)
    await live.start()
    try:
        expected = await publish(jetstream, "CAdoc1")
        received = await live.until_ended("CAdoc1", within_s=WAIT_S)
    finally:
        await live.close()
    assert [event["type"] for _, event in received] == expected
    assert [event["seq"] for _, event in received] == list(range(1, 9))
    for subject, event in received:
        assert consumer.problems(subject, event) == [], (subject, event)
    by_type = {event["type"]: event for _, event in received}
    assert by_type["call_started"]["from_number"] == "+15551234567"
    interrupted = received[3][1]
    assert (interrupted["interrupted"], interrupted["played_ms"], interrupted["produced_ms"]) == (
        True,
        700,
        2100,
    )
    assert received[1][1]["played_ms"] is None
    assert by_type["tool_called"]["ok"] is False
    assert by_type["call_ended"]["usage"] == {
        "input_tokens": 7,
        "output_tokens": 3,
        "total_tokens": 10,
    }


async def test_replay_by_the_documented_recipe(js: tuple[str, JetStreamContext]) -> None:
    url, jetstream = js
    expected = await publish(jetstream, "CAdoc2")
    replayed = await consumer.replay_call(url, "CAdoc2", within_s=WAIT_S)
    assert [event["type"] for _, event in replayed] == expected
    assert [event["seq"] for _, event in replayed] == list(range(1, 9))
    assert all(consumer.problems(subject, event) == [] for subject, event in replayed)
    assert await consumer.replay_call(url, "CAdocNever", within_s=WAIT_S) == []


def test_the_consumer_would_notice_a_broken_contract() -> None:
    good = {
        "v": 1, "type": "dtmf", "call_id": "CA1", "business_id": "b", "seq": 1,
        "at": "2026-01-01T00:00:00Z", "digit": "1",
    }  # fmt: skip
    assert consumer.problems("sb.events.b.CA1.dtmf", good) == []
    assert consumer.problems("sb.events.b.CA2.dtmf", good)  # subject disagrees
    assert consumer.problems("sb.events.b.CA1.dtmf", {**good, "seq": "1"})
    assert consumer.problems(
        "sb.events.b.CA1.dtmf", {k: v for k, v in good.items() if k != "digit"}
    )
    assert consumer.problems("sb.events.b.CA1.dtmf", {**good, "at": "2026-01-01T01:00:00+01:00"})
    assert not consumer.understood({**good, "v": 2})
    assert not consumer.understood({**good, "type": "sentiment"})
