"""Closing a bus connection at exit is bounded: a bus already gone, or a drain that cannot
finish, no longer holds a service for nats-py's 10 s flush timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from nats.aio.msg import Msg

from switchboard_common.bus import connected
from switchboard_common.settings import NatsSettings
from switchboard_sim.stack import LocalStack

CLOSE_S = 0.5


@pytest.fixture
async def stack() -> AsyncIterator[LocalStack]:
    async with LocalStack() as stack:
        await stack.start_nats()
        yield stack


async def test_a_connection_whose_bus_is_gone_closes_at_once(stack: LocalStack) -> None:
    settings = NatsSettings(url=stack.nats_url, close_timeout_s=CLOSE_S)
    async with connected(settings, "closing") as nc:
        await nc.subscribe("anything")
        await stack.stop_nats()
        start = time.monotonic()
    assert nc.is_closed
    assert time.monotonic() - start < CLOSE_S + 0.5  # nats-py alone: its 10 s flush timeout


async def test_a_drain_that_cannot_finish_is_cut_at_the_close_timeout(stack: LocalStack) -> None:
    stuck = asyncio.Event()  # a handler that never returns keeps the drain waiting

    async def handler(msg: Msg) -> None:
        await stuck.wait()

    settings = NatsSettings(url=stack.nats_url, close_timeout_s=CLOSE_S)
    async with connected(settings, "closing") as nc:
        await nc.subscribe("work", cb=handler)
        await nc.publish("work", b"1")
        await nc.publish("work", b"2")
        await nc.flush()
        start = time.monotonic()
    elapsed = time.monotonic() - start
    stuck.set()
    assert nc.is_closed
    assert CLOSE_S <= elapsed < CLOSE_S + 1.0
