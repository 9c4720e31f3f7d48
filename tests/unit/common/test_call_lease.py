"""Call ownership as a lease with an epoch, changed only by compare-and-set, against a real
nats-server: of racing writers exactly one wins, and a moved call is never taken back."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js.api import KeyValueConfig

from switchboard_common.call_lease import CallLeases, Lease, LeaseError, LeaseLost, NoSuchCall
from switchboard_common.messages import CallRecord, CallState


@pytest.fixture
async def leases(bus_url: str) -> AsyncIterator[CallLeases]:
    nc = await nats.connect(bus_url)
    js = nc.jetstream()
    bucket = f"leases_{uuid.uuid4().hex[:8]}"
    kv = await js.create_key_value(KeyValueConfig(bucket=bucket, history=1))
    try:
        yield CallLeases(kv)
    finally:
        with contextlib.suppress(Exception):
            await js.delete_key_value(bucket)
        await nc.close()


def offered(call_id: str = "CA1", agent_id: str | None = "agent-a") -> CallRecord:
    return CallRecord(
        call_id=call_id,
        business_id="acme",
        state=CallState.OFFERED,
        gateway_id="gw-1",
        agent_id=agent_id,
    )


async def test_the_first_record_gives_its_agent_the_call_at_epoch_one(leases: CallLeases) -> None:
    lease = await leases.create(offered())
    assert lease == Lease("CA1", "agent-a", 1)
    assert await leases.holds(lease)
    with pytest.raises(LeaseError):
        await leases.create(offered(agent_id="agent-b"))  # a record exists: never overwritten


async def test_a_revoked_call_moves_to_one_new_owner_at_the_next_epoch(leases: CallLeases) -> None:
    first = await leases.create(offered())
    assert first is not None
    assert await leases.revoke(first) == 2
    assert not await leases.holds(first)
    taken = await leases.take("CA1", "agent-b", 2)
    assert taken == Lease("CA1", "agent-b", 2)
    assert await leases.holds(taken)
    with pytest.raises(LeaseLost):
        await leases.take("CA1", "agent-c", 2)  # epoch 2 is agent-b's
    with pytest.raises(LeaseLost):
        await leases.take("CA1", "agent-a", 1)  # the old owner cannot come back at its epoch
    with pytest.raises(LeaseLost):
        await leases.revoke(first)  # a second judge finds the call already moved


async def test_of_agents_racing_for_a_call_exactly_one_wins(leases: CallLeases) -> None:
    first = await leases.create(offered())
    assert first is not None
    epoch = await leases.revoke(first)
    agents = [f"agent-{n}" for n in range(8)]
    results = await asyncio.gather(
        *(leases.take("CA1", agent, epoch) for agent in agents), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, Lease)]
    assert len(winners) == 1
    assert all(isinstance(r, LeaseLost) for r in results if not isinstance(r, Lease))
    current = await leases.read("CA1")
    assert current is not None
    assert current.record.agent_id == winners[0].agent_id
    assert current.record.epoch == epoch


async def test_of_judges_racing_to_revoke_exactly_one_moves_the_call(leases: CallLeases) -> None:
    first = await leases.create(offered())
    assert first is not None
    judges = [leases.revoke(first) for _ in range(5)]
    results = await asyncio.gather(*judges, return_exceptions=True)
    assert sorted(r for r in results if isinstance(r, int)) == [2]
    assert sum(isinstance(r, LeaseLost) for r in results) == 4


async def test_amending_keeps_the_owner_and_epoch_it_did_not_change(leases: CallLeases) -> None:
    first = await leases.create(offered())
    assert first is not None
    await leases.revoke(first)
    await leases.take("CA1", "agent-b", 2)
    updated = await leases.amend(
        "CA1", lambda r: r.model_copy(update={"state": CallState.STREAMING, "stream_sid": "MZ1"})
    )
    assert (updated.agent_id, updated.epoch, updated.state) == ("agent-b", 2, CallState.STREAMING)
    with pytest.raises(NoSuchCall):
        await leases.amend("CAnone", lambda r: r)
    assert await leases.read("CAnone") is None
