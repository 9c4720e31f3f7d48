"""Every service counts its NATS disconnects and reconnects under its own label."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from switchboard_common.bus import ConnectionWatch, connect
from switchboard_common.settings import NatsSettings
from switchboard_sim.stack import LocalStack


def _count(name: str, service: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": service}) or 0.0


async def test_the_callbacks_count_per_service() -> None:
    watch = ConnectionWatch("obs-unit")
    other_before = _count("switchboard_nats_disconnects_total", "obs-other")
    await watch.on_disconnected()
    await watch.on_disconnected()
    await watch.on_reconnected()
    await watch.on_error(RuntimeError("slow consumer"))
    assert _count("switchboard_nats_disconnects_total", "obs-unit") == 2
    assert _count("switchboard_nats_reconnects_total", "obs-unit") == 1
    assert _count("switchboard_nats_errors_total", "obs-unit") == 1
    assert _count("switchboard_nats_disconnects_total", "obs-other") == other_before


async def test_a_server_going_away_is_counted_as_a_disconnect() -> None:
    async with LocalStack() as stack:
        url = await stack.start_nats()
        nc = await connect(NatsSettings(url=url), "obs-test", service="obs-real")
        # Learn when nats-py has run our callback (it is the client's, wrapped here).
        reported = asyncio.Event()
        counted_callback = nc._disconnected_cb
        assert counted_callback is not None

        async def then_report() -> None:
            await counted_callback()
            reported.set()

        nc._disconnected_cb = then_report
        try:
            assert _count("switchboard_nats_disconnects_total", "obs-real") == 0
            await stack.stop()  # the server exits; the client notices and starts reconnecting
            await asyncio.wait_for(reported.wait(), 10)
        finally:
            await nc.close()
    # Our own close() afterwards is reported by nats-py as a disconnect too: not counted.
    assert _count("switchboard_nats_disconnects_total", "obs-real") == 1
