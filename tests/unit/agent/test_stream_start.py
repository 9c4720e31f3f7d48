"""Waiting for a taken call's stream: a call whose record does not name this agent is let go
after the confirmation wait, not held for the whole start timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from switchboard_agent.call_phase import CallPhase
from switchboard_agent.stream_start import StreamWait, wait_for_stream

#: Short waits: what is under test is which wait ends the call, not its length.
CONFIRM_S = 0.05
START_S = 0.3


def asking(
    answer: bool | None, phase: CallPhase | None = None
) -> tuple[list[int], Callable[[], Awaitable[bool | None]]]:
    """An ownership check answering ``answer``, counting its calls; when ``phase`` is given,
    the stream starts while the record is being read."""
    asked: list[int] = []

    async def owns_call() -> bool | None:
        asked.append(1)
        if phase is not None:
            phase.begin()
        return answer

    return asked, owns_call


async def test_a_record_naming_another_agent_ends_the_wait_at_the_confirmation() -> None:
    phase = CallPhase()
    asked, owns = asking(False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    long_start_s = 30.0  # as configured: the wait must not run to it
    assert await wait_for_stream(phase, owns, CONFIRM_S, long_start_s) is StreamWait.NOT_OURS
    assert asked == [1]
    assert loop.time() - started < long_start_s / 2


async def test_a_record_naming_this_agent_waits_for_the_whole_start_timeout() -> None:
    phase = CallPhase()
    asked, owns = asking(True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await wait_for_stream(phase, owns, CONFIRM_S, START_S) is StreamWait.NEVER_STARTED
    assert asked == [1]
    assert loop.time() - started >= START_S * 0.9


async def test_an_unreadable_record_is_not_taken_as_another_agents() -> None:
    asked, owns = asking(None)
    assert await wait_for_stream(CallPhase(), owns, CONFIRM_S, START_S) is (
        StreamWait.NEVER_STARTED
    )
    assert asked == [1]


async def test_a_stream_that_starts_in_time_is_never_checked() -> None:
    phase = CallPhase()
    phase.begin()
    asked, owns = asking(False)
    assert await wait_for_stream(phase, owns, CONFIRM_S, START_S) is StreamWait.SETTLED
    assert asked == []


async def test_a_stream_that_starts_while_the_record_is_read_wins() -> None:
    phase = CallPhase()
    asked, owns = asking(False, phase)
    assert await wait_for_stream(phase, owns, CONFIRM_S, START_S) is StreamWait.SETTLED
    assert asked == [1]


async def test_a_call_taken_over_is_not_checked() -> None:
    """A takeover's record was written by this agent itself: nothing to confirm."""
    phase = CallPhase()
    phase.end()
    assert await wait_for_stream(phase, None, CONFIRM_S, START_S) is StreamWait.SETTLED
    assert await wait_for_stream(CallPhase(), None, CONFIRM_S, START_S) is (
        StreamWait.NEVER_STARTED
    )
