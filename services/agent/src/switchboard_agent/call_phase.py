"""Where a call is in its life, as far as this agent is concerned: offered, streaming, over.

Why: the session, the gateway's controls, the caller's audio and the call's exit all wait on
or ask the same two facts (has the media stream started? is the call over for this agent?).
They share one :class:`CallPhase` by reference; it does no I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class CallPhase:
    #: The media stream started: audio flows.
    started: asyncio.Event = field(default_factory=asyncio.Event)
    #: The call is over for this agent (ended, transferred, or moved to another agent).
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    #: Either of the two: the wait for the stream is over.
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    def begin(self) -> None:
        self.started.set()
        self.settled.set()

    def end(self) -> None:
        self.ended.set()
        self.settled.set()

    @property
    def live(self) -> bool:
        """The stream started and the call is not over."""
        return self.started.is_set() and not self.ended.is_set()

    async def settle(self, timeout_s: float) -> bool:
        """Wait (bounded) for the stream to start or the call to end; True when it is live."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.settled.wait()
        return self.live
