"""Whether this agent still owns a call, and closing the record of a call it ends alone.

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

from nats.aio.client import Client

from switchboard_common import subjects
from switchboard_common.call_lease import CallLeases, Lease, LeaseError
from switchboard_common.messages import CallRecord, CallState, EndReason

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
