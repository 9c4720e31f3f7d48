"""Cover a slow tool with a holding phrase, so the caller is never left in silence for long.

When the model calls a tool, the caller has heard nothing since they stopped speaking. If the
tool is still running ``delay_s`` after the end of their speech, the model is asked (with a
separate, tool-less response) to say one short holding sentence, such as "One moment while I
check that."; the tool's result is then handed over as usual, and the answer is asked for once
the holding response is over (a conversation has one response at a time).

The end of the caller's speech is when the server's VAD reported it, less the silence the VAD
waits for before reporting: the caller's clock, not the model's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, TypeVar

from .. import metrics
from .breaker import Clock

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Tags the holding response, so its ``response.done`` is recognised.
HOLDING_METADATA = {"switchboard_purpose": "holding"}
#: Longest wait for the holding response to end before asking for the answer anyway (its
#: ``response.done`` may never come, e.g. when the connection drops meanwhile).
SETTLE_TIMEOUT_S = 10.0


def holding_instructions(phrase: str) -> str:
    return (
        f'Say exactly: "{phrase}" Say nothing else: the answer is still being looked up, and '
        "you will be given it next."
    )


class HoldingSpeaker(Protocol):
    """What a holding line needs of the Realtime connection."""

    async def say(self, instructions: str, *, metadata: dict[str, str], event_id: str) -> None:
        """Start a response that only speaks (no tool calls), tagged with ``metadata``."""


class HoldingLine:
    """One call's holding phrases."""

    def __init__(
        self,
        delay_s: float,
        phrase: str,
        vad_silence_s: float,
        clock: Clock = time.perf_counter,
    ) -> None:
        self.delay_s = delay_s
        self.phrase = phrase
        self._vad_silence_s = vad_silence_s
        self._clock = clock
        self._pending: str | None = None  # the holding response.create's event id
        self._over = asyncio.Event()
        self._over.set()

    def deadline(self, speech_stopped_at: float) -> float:
        """When the holding phrase is due, for speech the VAD reported at ``speech_stopped_at``
        (a time on this line's clock)."""
        return speech_stopped_at - self._vad_silence_s + self.delay_s

    async def results(
        self,
        runs: Awaitable[T],
        *,
        speech_stopped_at: float | None,
        may_speak: Callable[[], bool],
        speaker: HoldingSpeaker,
    ) -> T:
        """The tools' results; if they are late and the caller is still waiting in silence
        (``speech_stopped_at`` is set: nothing was said since), a holding phrase meanwhile."""
        if speech_stopped_at is None or not self.phrase:
            return await runs
        work = asyncio.ensure_future(runs)
        try:
            wait_s = max(0.0, self.deadline(speech_stopped_at) - self._clock())
            done, _ = await asyncio.wait({work}, timeout=wait_s)
            if not done and may_speak():
                await self._hold(speaker)
            return await work
        finally:
            work.cancel()  # a no-op once it is done; the call ended otherwise

    async def _hold(self, speaker: HoldingSpeaker) -> None:
        event_id = f"event_hold_{secrets.token_hex(8)}"
        self._pending = event_id
        self._over.clear()
        try:
            await speaker.say(
                holding_instructions(self.phrase),
                metadata=dict(HOLDING_METADATA),
                event_id=event_id,
            )
        except Exception as exc:
            log.warning("could not ask for a holding phrase: %s", exc)
            self._settle()
            return
        metrics.TOOL_HOLDING_PHRASES.inc()

    async def ready_to_answer(self) -> None:
        """Returns once no holding response is running (bounded by ``SETTLE_TIMEOUT_S``)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SETTLE_TIMEOUT_S):
                await self._over.wait()
        self._settle()

    def response_done(self, metadata: Mapping[str, str] | None) -> None:
        """Every ``response.done``: the holding response's ends the hold."""
        if metadata and all(metadata.get(k) == v for k, v in HOLDING_METADATA.items()):
            self._settle()

    def error(self, event_id: str | None) -> None:
        """Every server error: one caused by the holding request means no response follows
        (e.g. the caller spoke first and the server already answers)."""
        if event_id is not None and event_id == self._pending:
            self._settle()

    def _settle(self) -> None:
        self._pending = None
        self._over.set()
