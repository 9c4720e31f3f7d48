"""A real nats-server (JetStream on) for unit tests of code that talks to the bus: one per test
module, a connection per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client

from switchboard_sim.stack import LocalStack


@pytest.fixture(scope="module")
async def bus_url() -> AsyncIterator[str]:
    async with LocalStack() as stack:
        yield await stack.start_nats()


@pytest.fixture
async def bus(bus_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(bus_url)
    try:
        yield client
    finally:
        await client.close()
