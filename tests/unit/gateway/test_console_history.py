"""Call history and recent errors, read from a real JetStream event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import nats
import pytest
from nats.js import JetStreamContext

from switchboard_common import events as ev
from switchboard_common.event_stream import ensure_stream
from switchboard_gateway.console.history import call_history, errors_since
from switchboard_sim.stack import LocalStack

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _started(call: str, business: str) -> ev.CallStartedEvent:
    return ev.CallStartedEvent(
        call_id=call,
        business_id=business,
        seq=1,
        from_number="+14155550123",
        to_number="+15550100",
        agent_id="agent-1",
        gateway_id="gw-1",
    )


def _ended(call: str, business: str, reason: str) -> ev.CallEndedEvent:
    return ev.CallEndedEvent(
        call_id=call,
        business_id=business,
        seq=3,
        duration_s=12.0,
        caller_turns=1,
        agent_turns=1,
        reason=reason,
    )


@pytest.fixture(scope="module")
async def js() -> AsyncIterator[JetStreamContext]:
    """A stream holding three calls: one of acme that ended well, one of rival that lost its
    agent after a failed tool, and one of acme still running."""
    async with LocalStack() as stack:
        nc = await nats.connect(await stack.start_nats())
        try:
            js = nc.jetstream()
            await ensure_stream(js, retention_s=3600)
            tool = ev.ToolCalledEvent(
                call_id="CB",
                business_id="rival",
                seq=2,
                name="query_knowledge_base",
                arguments="{}",
                ok=False,
                output="unavailable",
                latency_ms=1500.0,
            )
            for event in (
                _started("CA", "acme"),
                _ended("CA", "acme", "caller_hung_up"),
                _started("CB", "rival"),
                tool,
                _ended("CB", "rival", "agent_lost"),
                _started("CC", "acme"),
            ):
                await js.publish(event.subject, event.to_bytes())
            yield js
        finally:
            await nc.close()


async def test_every_call_newest_first_with_its_outcome(js: JetStreamContext) -> None:
    calls = await call_history(js, None, EPOCH)
    assert [(c.call_id, c.outcome) for c in calls] == [
        ("CC", "in progress"),
        ("CB", "agent_lost"),
        ("CA", "caller_hung_up"),
    ]
    assert calls[1].ended is not None and calls[1].ended.duration_s == 12.0


@pytest.mark.parametrize(
    ("business", "outcome", "expected"),
    [
        ("acme", None, ["CC", "CA"]),
        ("rival", None, ["CB"]),
        (None, "agent_lost", ["CB"]),
        (None, "in progress", ["CC"]),
        ("acme", "agent_lost", []),
    ],
)
async def test_filtered_by_business_and_outcome(
    js: JetStreamContext, business: str | None, outcome: str | None, expected: list[str]
) -> None:
    calls = await call_history(js, business, EPOCH, outcome=outcome)
    assert [c.call_id for c in calls] == expected


async def test_filtered_by_date(js: JetStreamContext) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert await call_history(js, None, tomorrow) == []
    assert await call_history(js, None, EPOCH, until=EPOCH + timedelta(days=1)) == []


async def test_errors_are_bad_endings_and_failed_tools(js: JetStreamContext) -> None:
    errors = await errors_since(js, datetime.now(UTC) - timedelta(hours=1))
    assert sorted(e.type for e in errors) == ["call_ended", "tool_called"]
    assert {e.call_id for e in errors} == {"CB"}
