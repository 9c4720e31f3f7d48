"""Fixtures: a fake gateway per test (see :mod:`.fake_gateway`) and tiny caller WAVs."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from switchboard_sim.call.audio import write_ulaw_wav

from .fake_gateway import FakeGateway, tone


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    gw = FakeGateway()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    gw.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        gw.app(),
        log_level="warning",
        lifespan="off",
        ws="websockets-sansio",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]  # leave pytest's SIGINT alone
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield gw
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    """Two tiny caller WAVs: 400 ms of tone then 200 ms of silence, as 8 kHz μ-law."""
    silence = b"\xff" * 1600
    write_ulaw_wav(tmp_path / "speech.wav", tone(400) + silence)
    write_ulaw_wav(tmp_path / "short.wav", tone(200) + silence)
    return tmp_path
