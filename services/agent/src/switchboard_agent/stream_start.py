"""Waiting for a taken call's media stream, and noticing a call that was never this agent's.

Why: an agent that stalls past the gateway's offer timeout and then accepts has taken a call
the gateway no longer waits for. When the gateway gave the call to another agent, the
stream's start names that agent and this one lets go (``gateway_controls``). When the gateway
gave up on the call altogether (every agent it tried was late), no stream ever comes, and the
agent would hold a Realtime session and a slot for the whole start timeout (30 s by default).
So when a few offer timeouts pass without a stream, the agent asks the call's record once:
the gateway writes it, naming the agent, before it answers Twilio, so a stream that is still
on its way has a record that names this agent, and a call whose record does not was never
its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from enum import Enum

from .call_phase import CallPhase


class StreamWait(Enum):
    #: The stream started, or the call ended before it did: the session goes on as told.
    SETTLED = "settled"
    #: The record names this agent (or could not be read) and still no stream came.
    NEVER_STARTED = "never_started"
    #: The call's record does not name this agent: the gateway never took its accept.
    NOT_OURS = "not_ours"


async def _settles(phase: CallPhase, timeout_s: float) -> bool:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(timeout_s, 0.0)):
            await phase.settled.wait()
    return phase.settled.is_set()


async def wait_for_stream(
    phase: CallPhase,
    owns_call: Callable[[], Awaitable[bool | None]] | None,
    confirm_after_s: float,
    start_timeout_s: float,
) -> StreamWait:
    """Wait (at most ``start_timeout_s``) for the stream to start or the call to end. After
    ``confirm_after_s`` without either, ``owns_call`` is asked once (None: not asked, as for a
    call this agent took over itself); False there ends the wait at once, True or None (the
    record cannot be read now) waits on."""
    if owns_call is None or confirm_after_s >= start_timeout_s:
        settled = await _settles(phase, start_timeout_s)
        return StreamWait.SETTLED if settled else StreamWait.NEVER_STARTED
    if await _settles(phase, confirm_after_s):
        return StreamWait.SETTLED
    if await owns_call() is False and not phase.settled.is_set():
        return StreamWait.NOT_OURS
    settled = await _settles(phase, start_timeout_s - confirm_after_s)
    return StreamWait.SETTLED if settled else StreamWait.NEVER_STARTED
