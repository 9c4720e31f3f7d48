"""Who owns a call: a lease with an epoch in the call record, changed only by compare-and-set.

Why: a call must outlive the agent process that runs it. When an agent is lost, the call moves
to another; when the old one was only cut off from the bus, it must find out that it lost the
call and let go, and whatever it still sends must be recognisable as stale. So ownership is
never written blindly:

- every write to a call record names the revision it read (JetStream KV ``update(last=...)``),
  so of two processes racing, exactly one wins and the other re-reads;
- every change of owner increments ``epoch``: the new owner works at the new epoch, and
  anything stamped with an older one is dropped.

The record is written per control event (offer, stream start, owner change, end), never per
audio frame. See docs/resilience.md for who judges what, and when.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import ValidationError

from .messages import CallRecord

log = logging.getLogger(__name__)

#: Compare-and-set retries before a change is given up as contended.
MAX_ATTEMPTS = 5


class LeaseError(RuntimeError):
    """The call could not be taken or changed as asked."""


class LeaseLost(LeaseError):
    """Somebody else owns the call now (a higher epoch, or another agent at this one)."""


class NoSuchCall(LeaseError):
    """There is no record for the call (never offered, or expired)."""


@dataclass(frozen=True)
class Lease:
    """The right of ``agent_id`` to run ``call_id`` at ``epoch``."""

    call_id: str
    agent_id: str
    epoch: int


@dataclass(frozen=True)
class Versioned:
    """A record with the revision it was read at (what a compare-and-set names)."""

    record: CallRecord
    revision: int


class CallLeases:
    """Compare-and-set access to the call records bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def read(self, call_id: str) -> Versioned | None:
        try:
            entry = await self._kv.get(call_id)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        if not entry.value:
            return None  # deleted or purged
        try:
            record = CallRecord.model_validate_json(entry.value)
        except ValidationError as exc:
            log.warning("call %s: unreadable record: %s", call_id, exc)
            return None
        return Versioned(record, entry.revision or 0)

    async def create(self, record: CallRecord) -> Lease | None:
        """Write a new call's first record; its agent (if any) holds the call at its epoch.
        Fails with :class:`LeaseError` when the call already has a record."""
        try:
            await self._kv.create(record.call_id, record.to_bytes())
        except KeyWrongLastSequenceError as exc:
            raise LeaseError(f"call {record.call_id} already has a record") from exc
        if record.agent_id is None:
            return None
        return Lease(record.call_id, record.agent_id, record.epoch)

    async def amend(self, call_id: str, change: Callable[[CallRecord], CallRecord]) -> CallRecord:
        """Apply ``change`` to the current record and write it only if nobody wrote in between
        (re-reading and re-applying on a race). ``change`` may raise to refuse."""
        for _ in range(MAX_ATTEMPTS):
            current = await self.read(call_id)
            if current is None:
                raise NoSuchCall(f"no record for call {call_id}")
            updated = change(current.record)
            if updated == current.record:
                return updated
            try:
                await self._kv.update(call_id, updated.to_bytes(), last=current.revision)
            except KeyWrongLastSequenceError:
                continue  # somebody wrote first: decide again on what they wrote
            return updated
        raise LeaseError(f"call {call_id}: record too contended to change")

    async def take(self, call_id: str, agent_id: str, epoch: int) -> Lease:
        """An agent that accepted the call's offer at ``epoch`` becomes its owner: only while
        the record is still at that epoch and nobody else owns it."""

        def claim(record: CallRecord) -> CallRecord:
            if record.epoch != epoch:
                raise LeaseLost(f"call {call_id} is at epoch {record.epoch}, not {epoch}")
            if record.agent_id not in (None, agent_id):
                raise LeaseLost(f"call {call_id} is owned by {record.agent_id} at {epoch}")
            return record.model_copy(update={"agent_id": agent_id})

        await self.amend(call_id, claim)
        return Lease(call_id, agent_id, epoch)

    async def revoke(self, lease: Lease) -> int:
        """Move the call off ``lease``'s agent (judged lost): the owner is cleared and the
        epoch goes up by one, which is returned. Raises :class:`LeaseLost` when the call had
        already moved: then there is nothing to revoke."""

        def release(record: CallRecord) -> CallRecord:
            if record.epoch != lease.epoch or record.agent_id != lease.agent_id:
                raise LeaseLost(f"call {lease.call_id} already moved (epoch {record.epoch})")
            return record.model_copy(update={"agent_id": None, "epoch": lease.epoch + 1})

        return (await self.amend(lease.call_id, release)).epoch

    async def holds(self, lease: Lease) -> bool:
        """Whether ``lease`` is still the call's current ownership (an agent back from a
        partition asks this before it sends anything more)."""
        current = await self.read(lease.call_id)
        return (
            current is not None
            and current.record.epoch == lease.epoch
            and current.record.agent_id == lease.agent_id
        )
