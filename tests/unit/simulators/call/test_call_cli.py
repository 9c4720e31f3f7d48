"""The CLI end to end against the fake gateway (run in a worker thread: it owns its loop)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path

import pytest

from switchboard_sim.call.__main__ import main
from switchboard_sim.call.audio import read_wav_ulaw

from .fake_gateway import PUBLIC, TOKEN, AgentSession, FakeGateway, tone

pytestmark = pytest.mark.timeout(30)


def run_cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


async def test_cli_call_exits_zero_and_prints(gateway: FakeGateway, samples: Path) -> None:
    async def agent(s: AgentSession) -> None:
        await s.wait_started()
        await s.speech_end()
        await s.send_media(tone(300))
        await s.send_mark("r")

    gateway.agent = agent
    scenario = samples / "sc.json"
    scenario.write_text(
        json.dumps(
            {
                "turns": [
                    {"say": "hi there", "wav": "short.wav", "after": "now"},
                    {"hangup": True},
                ],
                "quiet_ms": 200,
                "pause_ms": 0,
            }
        )
    )
    rec = samples / "out.wav"
    common = ["--gateway", gateway.url, "--public-base-url", PUBLIC, "--auth-token", TOKEN]
    code, out = await asyncio.to_thread(
        run_cli, [*common, "--scenario", str(scenario), "--record", str(rec), "--realtime-speed"]
    )
    assert code == 0, out
    assert "caller says 'hi there'" in out and "turn 1 latency" in out
    assert "RESULT: OK" in out and "p50" in out
    assert read_wav_ulaw(rec).count(tone(20)[:2]) >= 1000

    code, out = await asyncio.to_thread(
        run_cli, [*common, "--scenario", str(scenario), "--bad-signature"]
    )
    assert code == 0 and "refused (HTTP 403)" in out, out

    code, out = await asyncio.to_thread(
        run_cli, [*common[:-1], "wrong-token", "--scenario", str(scenario)]
    )
    assert code == 1 and "webhook answered HTTP 403" in out, out


def test_cli_bad_scenario_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"turns": []}')
    code = main(
        [
            "--gateway",
            "http://127.0.0.1:9",
            "--public-base-url",
            PUBLIC,
            "--auth-token",
            "t",
            "--scenario",
            str(bad),
        ]
    )
    assert code == 2
