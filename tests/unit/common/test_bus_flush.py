"""``flush_published``: a flush that really follows what was published before it.

The client's socket writes are recorded, so the order the server sees is checked directly
instead of hoping a race shows up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from switchboard_common.bus import flush_published


@pytest.fixture
async def recorded(bus_url: str) -> AsyncIterator[tuple[Client, list[bytes]]]:
    nc = await nats.connect(bus_url)
    wire: list[bytes] = []
    transport: Any = nc._transport  # the recording is the point of the test
    write, writelines = transport.write, transport.writelines

    def record(payload: bytes) -> None:
        wire.append(bytes(payload))
        write(payload)

    def record_lines(payloads: Iterable[bytes]) -> None:
        payloads = list(payloads)
        wire.extend(bytes(p) for p in payloads)
        writelines(payloads)

    transport.write, transport.writelines = record, record_lines
    try:
        yield nc, wire
    finally:
        await nc.close()


def _last_ping_follows_the_publish(wire: list[bytes]) -> bool:
    stream = b"".join(wire)
    return stream.index(b"PUB probe ") < stream.rindex(b"PING\r\n")


async def test_flush_published_writes_the_ping_after_the_publish(
    recorded: tuple[Client, list[bytes]],
) -> None:
    nc, wire = recorded
    await nc.publish("probe", b"x")
    await flush_published(nc)
    assert _last_ping_follows_the_publish(wire)


async def test_nats_py_flush_alone_can_ping_before_the_publish(
    recorded: tuple[Client, list[bytes]],
) -> None:
    """Why the helper exists. If this fails, nats-py has fixed ``flush()`` and the helper
    can become a single flush."""
    nc, wire = recorded
    await nc.publish("probe", b"x")
    await nc.flush()
    assert not _last_ping_follows_the_publish(wire)
