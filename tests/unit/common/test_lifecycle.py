"""The drain helpers and the ops app that reports readiness."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from switchboard_common.lifecycle import DrainSettings, StopSignals, ops_app, wait_until_idle


def test_drain_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_DRAIN_TIMEOUT_S", "12.5")
    assert DrainSettings().timeout_s == 12.5
    monkeypatch.setenv("SWITCHBOARD_DRAIN_TIMEOUT_S", "-1")
    with pytest.raises(ValueError, match="greater than or equal"):
        DrainSettings()


async def test_first_signal_drains_second_means_now() -> None:
    signals = StopSignals()
    signals.signal()
    assert signals.draining.is_set() and not signals.now.is_set()
    signals.signal()
    assert signals.now.is_set()


async def test_wait_until_idle_returns_when_work_ends() -> None:
    active = [2]

    async def finish() -> None:
        await asyncio.sleep(0)
        active[0] = 0

    task = asyncio.create_task(finish())
    assert await wait_until_idle(lambda: active[0], deadline_s=5) is True
    await task


async def test_wait_until_idle_gives_up_at_the_deadline_or_when_told() -> None:
    assert await wait_until_idle(lambda: 1, deadline_s=0.1) is False
    now = asyncio.Event()
    now.set()
    assert await wait_until_idle(lambda: 1, deadline_s=60, stop_now=now) is False


async def test_ops_app_reports_readiness_liveness_and_metrics() -> None:
    state: dict[str, Any] = {"ready": True, "active_calls": 3}
    transport = httpx.ASGITransport(app=ops_app(lambda: dict(state)))
    async with httpx.AsyncClient(transport=transport, base_url="http://ops") as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == state
        state["ready"] = False
        assert (await http.get("/readyz")).status_code == 503
        assert (await http.get("/healthz")).status_code == 200
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200 and "python_info" in metrics.text
        assert (await http.get("/nope")).status_code == 404
