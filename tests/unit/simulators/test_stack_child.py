"""Stopping a child process of the local stack when it ends at the very moment it is killed."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any, cast

from switchboard_sim.stack import Child


class EndsWhenKilled:
    """A process that outlives its stop signal's wait and is already gone when the kill
    comes: uvloop's kill then raises ProcessLookupError (seen ending `make up` with exit 1)."""

    def __init__(self) -> None:
        self.returncode: int | None = None
        self.signals: list[int] = []
        self._ended = asyncio.Event()

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)

    def kill(self) -> None:
        self.returncode = -signal.SIGTERM
        self._ended.set()
        raise ProcessLookupError

    async def wait(self) -> int:
        await self._ended.wait()
        assert self.returncode is not None
        return self.returncode


async def test_a_child_gone_before_its_kill_is_stopped_not_an_error(tmp_path: Path) -> None:
    proc = EndsWhenKilled()
    child = Child("agent", cast(Any, proc), tmp_path / "agent.log")
    assert await child.stop(signal.SIGTERM, timeout_s=0.01) == -signal.SIGTERM
    assert proc.signals == [signal.SIGTERM]
