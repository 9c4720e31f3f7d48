"""Password guessing is slowed per login, counted once for every gateway replica (on a real
nats-server), with a window that passes."""

from __future__ import annotations

import asyncio

import nats

from switchboard_gateway.console.throttle import SignInThrottle
from switchboard_sim.stack import LocalStack


async def test_failures_count_across_replicas_per_login_within_the_window() -> None:
    async with LocalStack() as stack:
        nc = await nats.connect(await stack.start_nats())
        try:
            now = [1000.0]
            # Two replicas of the gateway share the count (and here one fake clock).
            first = await SignInThrottle.open(nc, limit=3, window_s=60, clock=lambda: now[0])
            second = await SignInThrottle.open(nc, limit=3, window_s=60, clock=lambda: now[0])
            await first.failed("acme-owner")
            await second.failed("acme-owner")
            assert not await first.blocked("acme-owner")
            await first.failed("acme-owner")
            assert await second.blocked("acme-owner")  # three failures, on either replica
            assert not await second.blocked("rival-owner")  # per login
            now[0] += 61
            assert not await first.blocked("acme-owner")  # the window passed

            # Replicas counting at the same moment lose no failure (revision-checked).
            await asyncio.gather(*(r.failed("guessed") for r in (first, second, first)))
            assert await second.blocked("guessed")
            await first.succeeded("guessed")
            assert not await second.blocked("guessed")
            # Any typed name counts, without becoming a key.
            await first.failed("not a valid key / ✓")
            assert not await first.blocked("not a valid key / ✓")
        finally:
            await nc.close()
