"""Whether this agent still owns a call, and how it ends the call's story.

Why: an agent that was frozen (SIGSTOP, a stalled VM) or cut off from the bus can be judged
lost while it still runs; the gateway then moves its call to another agent at the next epoch.
When such an agent comes back, nothing reaches it any more (the call's live subjects moved
with the epoch), so it notices the silence, asks the call record, and lets go: it closes its
Realtime session and frees the slot without writing anything more about the call, which is
the new owner's story to tell.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nats.aio.client import Client

from switchboard_common import subjects
from switchboard_common.call_lease import CallLeases, Lease, LeaseError
from switchboard_common.event_stream import CallEventPublisher
from switchboard_common.events import TokenUsage
from switchboard_common.messages import CallRecord, CallState, EndReason

from .turns import AgentTurns

log = logging.getLogger(__name__)

#: Longest a call's end waits to learn whether it still owns the call.
CHECK_TIMEOUT_S = 1.0


async def still_owner(nc: Client, lease: Lease) -> bool | None:
    """Whether ``lease`` is still the call's ownership; None when that cannot be told now
    (the bus is away: then nobody can have moved the call through it either)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            leases = CallLeases(await nc.jetstream().key_value(subjects.CALLS_BUCKET))
            return await leases.holds(lease)
    except Exception as exc:
        log.warning("call %s: cannot read its record: %r", lease.call_id, exc)
        return None


async def close_record(nc: Client, lease: Lease, reason: EndReason) -> None:
    """Mark the call ended in its record, when the gateway that would have done it is gone
    (only while this agent still owns the call)."""

    def ended(record: CallRecord) -> CallRecord:
        if (record.agent_id, record.epoch) != (lease.agent_id, lease.epoch):
            raise LeaseError("the call moved")
        return record.model_copy(update={"state": CallState.ENDED, "ended_reason": reason})

    try:
        leases = CallLeases(await nc.jetstream().key_value(subjects.CALLS_BUCKET))
        await leases.amend(lease.call_id, ended)
    except Exception as exc:
        log.warning("call %s: record not closed: %r", lease.call_id, exc)


class CallStory:
    """The end of a call's story as this agent tells it: its last events and, when its
    gateway is gone, its record; or, when the call moved on without this agent, nothing."""

    def __init__(
        self, nc: Client, lease: Lease, events: CallEventPublisher, turns: AgentTurns
    ) -> None:
        self._nc = nc
        self._lease = lease
        self._events = events
        self._turns = turns
        #: The call moved to another agent while this one was cut off or hung.
        self.superseded = False

    async def still_ours(self) -> bool:
        """Whether this agent may still write about the call (asked once, at its end)."""
        if not self.superseded and await still_owner(self._nc, self._lease) is False:
            self.superseded = True
        return not self.superseded

    async def close(
        self,
        *,
        started_at: float | None,
        caller_turns: int,
        reason: str,
        usage: TokenUsage,
        detail: str,
    ) -> None:
        if not await self.still_ours():  # the new owner tells the rest of the call's story
            dropped = await self._events.abandon()
            log.warning("call %s: moved on; let go (%d events)", self._lease.call_id, dropped)
            return
        self._turns.flush()
        if started_at is not None:
            self._events.call_ended(
                duration_s=time.monotonic() - started_at,
                caller_turns=caller_turns,
                agent_turns=self._turns.count,
                reason=reason or "ended",
                usage=usage,
                detail=detail,
            )
        await self._events.aclose()
        if reason == EndReason.GATEWAY_LOST:  # no gateway is left to close the record
            await close_record(self._nc, self._lease, EndReason.GATEWAY_LOST)
