"""Fresh business buckets per test, on the module's nats-server (tests/unit/conftest.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client

from switchboard_common import subjects
from switchboard_common.business_store import BusinessStore


@pytest.fixture
async def businesses_nc(bus_url: str) -> AsyncIterator[Client]:
    nc = await nats.connect(bus_url)
    js = nc.jetstream()
    for bucket in (subjects.BUSINESSES_BUCKET, subjects.BUSINESS_NUMBERS_BUCKET):
        with contextlib.suppress(Exception):  # not created yet
            await js.delete_key_value(bucket)
    try:
        yield nc
    finally:
        await nc.close()


@pytest.fixture
async def store(businesses_nc: Client) -> BusinessStore:
    return await BusinessStore.open(businesses_nc)
