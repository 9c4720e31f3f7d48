"""A gateway that learns the new owner from the call record (the offer's answer came too late)
rebinds the stream and sends ``call.started`` at once: the taking agent must not miss it,
however early it comes. Real nats-server with JetStream."""

from __future__ import annotations

import asyncio
import contextlib

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from switchboard_agent.takeover import TakeoverRefused, take_over
from switchboard_common import subjects
from switchboard_common.call_lease import CallLeases, Lease
from switchboard_common.event_stream import ensure_stream
from switchboard_common.messages import CallOffer, CallRecord, CallStarted, CallState

CALL = "CA" + "1" * 32


@pytest.fixture
async def nc(bus: Client) -> Client:
    """The bus with the event stream and an empty calls bucket."""
    js = bus.jetstream()
    await ensure_stream(js, retention_s=3600)
    with contextlib.suppress(Exception):  # not created yet
        await js.delete_key_value(subjects.CALLS_BUCKET)
    await js.create_key_value(bucket=subjects.CALLS_BUCKET)
    return bus


async def _a_lost_agent_s_call(nc: Client) -> tuple[CallLeases, CallOffer]:
    leases = CallLeases(await nc.jetstream().key_value(subjects.CALLS_BUCKET))
    record = CallRecord(
        call_id=CALL,
        business_id="bellas-bistro",
        state=CallState.STREAMING,
        gateway_id="gw-1",
        agent_id="lost",
    )
    await leases.create(record)
    epoch = await leases.revoke(Lease(CALL, "lost", 1))
    offer = CallOffer(
        call_id=CALL, business_id="bellas-bistro", gateway_id="gw-1", resume=True, epoch=epoch
    )
    return leases, offer


async def test_call_started_sent_the_instant_the_record_names_the_taker_is_not_lost(
    nc: Client,
) -> None:
    leases, offer = await _a_lost_agent_s_call(nc)
    gateway = await nats.connect(nc.connected_url.geturl() if nc.connected_url else "")
    kv = await gateway.jetstream().key_value(subjects.CALLS_BUCKET)
    watcher = await kv.watch(CALL)
    started = CallStarted(call_id=CALL, stream_sid="MZ" + "2" * 32, gateway_id="gw-1")

    async def gateway_rebinds_on_the_record() -> None:
        async for entry in watcher:
            if entry is None or not entry.value:
                continue
            record = CallRecord.model_validate_json(entry.value)
            if record.agent_id == "new" and record.epoch == offer.epoch:
                await gateway.publish(subjects.agent_control(CALL, offer.epoch), started.to_bytes())
                await gateway.flush()
                return

    rebinding = asyncio.create_task(gateway_rebinds_on_the_record())
    try:
        takeover = await take_over(nc, offer, "new", audio_pending_bytes=64_000)
        async with asyncio.timeout(5):
            await rebinding  # the gateway sent call.started before any session existed
        assert takeover.inbox is not None
        heard: asyncio.Queue[Msg] = asyncio.Queue()

        async def ignore(_: Msg) -> None:
            return None

        subs = takeover.inbox.deliver_to(heard.put, ignore)
        async with asyncio.timeout(5):
            msg = await heard.get()
        assert CallStarted.model_validate_json(msg.data) == started
        for sub in subs:
            await sub.unsubscribe()
        assert (await leases.read(CALL)).record.agent_id == "new"  # type: ignore[union-attr]
    finally:
        rebinding.cancel()
        await watcher.stop()
        await gateway.close()


async def test_a_refused_takeover_gives_its_subjects_up(nc: Client) -> None:
    leases, offer = await _a_lost_agent_s_call(nc)
    await leases.take(CALL, "quicker", offer.epoch)
    with pytest.raises(TakeoverRefused, match="owned by quicker"):
        await take_over(nc, offer, "new", audio_pending_bytes=64_000)
    # No subscription of ours is left on the call's subjects at that epoch.
    control = subjects.agent_control(CALL, offer.epoch)
    assert not [s for s in nc._subs.values() if s.subject == control]
