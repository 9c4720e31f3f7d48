"""A live event tail (`switchboard_common.cli events tail`, or any follower) across a restart
of nats-server: it resumes after the last event it read, missing nothing and repeating
nothing."""

from __future__ import annotations

import asyncio

import nats
import pytest

from switchboard_common.bus import connect, on_reconnect
from switchboard_common.event_stream import CallEventPublisher, ensure_stream, follow
from switchboard_common.events import CallStartedEvent
from switchboard_common.settings import NatsSettings
from switchboard_sim.stack import LocalStack

pytestmark = pytest.mark.timeout(60)


async def _record_call(js: nats.js.JetStreamContext, call_id: str) -> None:
    async with CallEventPublisher(js, "acme", call_id) as events:
        events.call_started(agent_id="ag-1", gateway_id="gw-1")


async def test_a_follower_resumes_after_the_bus_restarts() -> None:
    async with LocalStack() as stack:
        await stack.start_nats()
        harness = await nats.connect(stack.nats_url, reconnect_time_wait=0.1)
        reader = await connect(NatsSettings(url=stack.nats_url_for("admin")), "tail", "test")
        try:
            await ensure_stream(harness.jetstream(), retention_s=3600)
            async with follow(reader.jetstream()) as events:
                on_reconnect(reader, events.resync)
                await _record_call(harness.jetstream(), "CA-before")
                first = await asyncio.wait_for(anext(events), 10)
                assert isinstance(first, CallStartedEvent) and first.call_id == "CA-before"

                await stack.restart_nats()
                await harness.flush(timeout=10)  # reconnected
                await _record_call(harness.jetstream(), "CA-after")
                second = await asyncio.wait_for(anext(events), 15)
                assert second.call_id == "CA-after"  # nothing missed, nothing repeated
        finally:
            await reader.close()
            await harness.close()
