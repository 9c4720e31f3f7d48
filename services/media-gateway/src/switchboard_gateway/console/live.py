"""The live calls, as the console's pages and streams read them."""

from __future__ import annotations

import asyncio

from switchboard_common.messages import CallRecord

from ..calls.records import CallRecords

#: The call records are read from the bucket at most this often.
LIVE_SNAPSHOT_S = 1.0


class LiveSnapshot:
    """The call records, read from the bucket at most once per refresh however many people
    watch the live list."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._at = -LIVE_SNAPSHOT_S
        self._records: list[CallRecord] = []

    async def get(self, records: CallRecords) -> list[CallRecord]:
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if now - self._at >= LIVE_SNAPSHOT_S * 0.9:
                self._records = [r for r in await records.live() if r.state != "ended"]
                self._at = now
            return self._records
