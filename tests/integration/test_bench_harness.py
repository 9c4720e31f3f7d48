"""The benchmark harness still measures: a few calls for a second through the real stack, the
bare-relay floor and the direct bridge, every frame echoed and every process sampled.

Figures are not asserted (speed is the bench's job, not a test's); that the harness runs,
matches every echo to its frame and reads each process's CPU is."""

from __future__ import annotations

import pytest

from bench import floor
from bench.__main__ import run_one

pytestmark = pytest.mark.timeout(90)

CALLS, SECONDS, WARMUP = 3, 1.0, 0.2


async def test_the_stack_bench_echoes_every_frame() -> None:
    result = await run_one(CALLS, SECONDS, WARMUP, gateway_env={})
    assert result["frames_sent"] == CALLS * (int(WARMUP / 0.020) + int(SECONDS / 0.020))
    assert result["frames_lost"] == 0
    assert result["latency_ms"]["p50"] > 0
    assert all(p["cpu_pct_core"] > 0 for p in result["processes"].values()), result["processes"]
    assert result["per_call"]["cpu_pct_core"] > 0


@pytest.mark.parametrize("direct", [False, True], ids=["relays", "direct"])
async def test_the_floor_bench_echoes_every_frame(direct: bool) -> None:
    result = await floor.run_floor(CALLS, SECONDS, WARMUP, direct=direct)
    assert result["frames_lost"] == 0
    assert result["latency_ms"]["p50"] > 0
    expected = {"realtime-sim", "load-client"} | (
        {"bridge"} if direct else {"gateway", "agent", "nats"}
    )
    assert set(result["cpu_pct_core"]) == expected
    assert result["per_call_cpu_pct_core"] > 0
