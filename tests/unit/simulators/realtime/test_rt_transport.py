"""Transport of the Realtime simulator: echo mode, HTTP introspection, hooks, CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx
import pytest
from openai import AsyncOpenAI
from websockets.exceptions import ConnectionClosed

from switchboard_sim.realtime import RealtimeSimulator

from .realtime_sim_helpers import TIMEOUT, b64, connect, send_audio, tone_ulaw, utterance


async def test_echo_mode_returns_each_append_as_one_audio_delta() -> None:
    async with RealtimeSimulator(echo=True) as sim, connect(sim) as (conn, events):
        frames = [b64(tone_ulaw(20, freq=300 + 50 * i)) for i in range(5)]
        for frame in frames:
            await conn.input_audio_buffer.append(audio=frame)
        deltas = [await events.wait_for("response.output_audio.delta") for _ in frames]
        assert [d.delta for d in deltas] == frames
        assert len({(d.response_id, d.item_id) for d in deltas}) == 1
        # Echo mode never runs VAD, even on loud audio followed by silence.
        await send_audio(conn, utterance())
        await conn.input_audio_buffer.append(audio="not base64!")
        await events.wait_for("error")
        assert "input_audio_buffer.speech_started" not in events.types()
        record = sim.snapshot()[0]
        assert record["echo"] is True
        assert record["append_count"] == 5 + len(utterance()) // 160 + 1
        assert record["event_types"] == ["input_audio_buffer.append"]


async def test_http_introspection_routes_and_auth() -> None:
    async with RealtimeSimulator() as sim, connect(sim) as (conn, events):
        await conn.session.update(session={"type": "realtime", "instructions": "x"})
        await events.wait_for("session.updated")
        async with httpx.AsyncClient(base_url=sim.base_url, timeout=TIMEOUT) as http:
            assert (await http.get("/_sim/health")).json()["ok"] is True
            sessions = (await http.get("/_sim/sessions")).json()
            assert len(sessions) == 1 and sessions[0]["connected"] is True
            one = (await http.get(f"/_sim/sessions/{sessions[0]['id']}")).json()
            assert one["event_types"] == ["session.update"]
            assert one["control_events"][0]["session"]["instructions"] == "x"
            assert (await http.get("/_sim/sessions/sess_9999")).status_code == 404
            assert (await http.get("/nothing")).status_code == 404
            # The realtime endpoint wants a bearer token, like the real one.
            headers = {"Connection": "Upgrade", "Upgrade": "websocket"}
            assert (await http.get("/realtime", headers=headers)).status_code == 401


async def test_drop_hook_aborts_the_connection() -> None:
    async with RealtimeSimulator() as sim, connect(sim) as (_conn, events):
        session_id = sim.snapshot()[0]["id"]
        async with httpx.AsyncClient(base_url=sim.base_url, timeout=TIMEOUT) as http:
            assert (await http.get(f"/_sim/sessions/{session_id}/drop")).status_code == 200
        with pytest.raises(ConnectionClosed):
            await events.next()
        # The session record stays for post-mortem assertions.
        await asyncio.wait_for(sim.wait_ended(session_id), TIMEOUT)
        assert sim.snapshot()[0]["connected"] is False


async def test_max_session_duration_sends_error_and_closes() -> None:
    async with RealtimeSimulator(max_session_s=0.2) as sim:
        client = AsyncOpenAI(api_key="sk-sim", base_url=sim.base_url, max_retries=0)
        async with client.realtime.connect(model="gpt-realtime") as conn:
            types = [event.type async for event in conn]  # ends when the server closes
            assert types[0] == "session.created"
            assert types[-1] == "error"
        assert sim.snapshot()[0]["errors_sent"][-1]["code"] == "session_expired"


async def test_cli_prints_url_serves_and_exits_cleanly_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard_sim.realtime",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--speed",
        "8",
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        key, _, url = line.partition("=")
        assert key == "REALTIME_SIM_URL" and url.startswith("http://127.0.0.1:")
        assert url.endswith("/v1")
        client = AsyncOpenAI(api_key="sk-sim", base_url=url, max_retries=0)
        async with client.realtime.connect(model="gpt-realtime") as conn:
            event = await asyncio.wait_for(conn.recv(), TIMEOUT)
            assert event.type == "session.created"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert await proc.stdout.read() == b""  # exactly one line was printed
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
