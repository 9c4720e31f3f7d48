"""``make up`` (``python -m switchboard_sim.up``): the stack in the foreground, configured as
the README says, takes a call signed for its public URL, prints the call's transcript as it
happens, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from switchboard_sim.call import CallConfig, CallSimulator, Scenario
from switchboard_sim.stack import free_port

from .conftest import SCENARIO

pytestmark = pytest.mark.timeout(180)

TOKEN = "up-test-auth-token"


async def _line_with(stream: asyncio.StreamReader, text: str, seen: list[str]) -> None:
    while text not in (line := (await stream.readline()).decode()):
        assert line, f"make up exited before printing {text!r}:\n{''.join(seen)}"
        seen.append(line)
    seen.append(line)


async def test_make_up_takes_a_call_prints_it_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    gateway_port = free_port()
    public = "https://up.switchboard.test"  # the tunnel Twilio would reach; the call goes direct
    local = f"http://127.0.0.1:{gateway_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env |= {
        "PUBLIC_BASE_URL": public,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "GATEWAY_PORT": str(gateway_port),
        "KNOWLEDGE_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    }
    up = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard_sim.up",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert up.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(90):
            await _line_with(up.stdout, "Ctrl-C to stop", seen)
        assert f"Twilio voice webhook: {public}/twilio/voice" in "".join(seen)
        assert "Realtime simulator" in "".join(seen)  # no OPENAI_API_KEY: offline

        assert f"gateway listening on {local}" in "".join(seen)
        config = CallConfig(gateway_url=local, public_base_url=public, auth_token=TOKEN)
        config.max_call_s = 90.0
        result = await CallSimulator(config).run(Scenario.load(SCENARIO))
        assert result.ok, result.summary()

        async with asyncio.timeout(30):  # the caller's words, printed by make up
            await _line_with(up.stdout, f"/{config.call_sid}] caller:", seen)
    finally:
        if up.returncode is None:
            up.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            rest = (await up.stdout.read()).decode()
            code = await up.wait()
    assert code == 0, "".join(seen) + rest
    assert "stopping" in rest
    assert (tmp_path / ".switchboard" / "gateway-1.log").exists()
