"""A real nats-server (JetStream) for the business store tests, with fresh buckets per test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client

from switchboard_common import subjects
from switchboard_common.business_store import BusinessStore
from switchboard_sim.stack import LocalStack


@pytest.fixture(scope="module")
async def businesses_nats_url() -> AsyncIterator[str]:
    async with LocalStack() as stack:
        yield await stack.start_nats()


@pytest.fixture
async def businesses_nc(businesses_nats_url: str) -> AsyncIterator[Client]:
    nc = await nats.connect(businesses_nats_url)
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
