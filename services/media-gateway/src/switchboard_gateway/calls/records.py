"""Call records in the JetStream key-value bucket: a call's state outside any one process."""

from __future__ import annotations

import logging
from typing import Any

from nats.aio.client import Client
from nats.js.kv import KeyValue

from switchboard_common import subjects
from switchboard_common.buckets import open_bucket
from switchboard_common.call_lease import CallLeases, LeaseError, NoSuchCall
from switchboard_common.messages import CallRecord

log = logging.getLogger(__name__)


class CallRecords:
    """Best-effort writes for the call's life (a KV hiccup is logged, it never breaks a live
    call), and :attr:`leases` for ownership, which is only ever changed by compare-and-set."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self.leases = CallLeases(kv)

    @classmethod
    async def open(cls, nc: Client, ttl_s: float) -> CallRecords:
        return cls(await open_bucket(nc, subjects.CALLS_BUCKET, ttl_s))

    async def put(self, record: CallRecord) -> None:
        """Write a call's first record (the voice webhook, once an agent took the call)."""
        try:
            await self._kv.put(record.call_id, record.to_bytes())
        except Exception as exc:
            log.warning("call %s: record not saved: %s", record.call_id, exc)

    async def change(self, fallback: CallRecord, **changes: Any) -> None:
        """Apply ``changes`` to the call's record by compare-and-set, keeping what others wrote
        (the owner and epoch an agent took, the caller's numbers); ``fallback`` is written when
        there is no record yet."""
        try:
            await self.leases.amend(fallback.call_id, lambda r: r.model_copy(update=changes))
        except NoSuchCall:
            await self.put(fallback.model_copy(update=changes))
        except LeaseError as exc:
            log.warning("call %s: record not changed: %s", fallback.call_id, exc)
        except Exception as exc:
            log.warning("call %s: record not changed: %s", fallback.call_id, exc)

    async def get(self, call_id: str) -> CallRecord | None:
        try:
            entry = await self._kv.get(call_id)
        except Exception:
            return None
        return CallRecord.model_validate_json(entry.value) if entry.value else None

    async def live(self) -> list[CallRecord]:
        """Every call record still in the bucket (the console's live calls), oldest first."""
        try:
            keys = await self._kv.keys()
        except Exception:  # nats-py raises NoKeysError on an empty bucket
            return []
        found = [await self.get(key) for key in keys]
        return sorted((r for r in found if r is not None), key=lambda r: r.started_at)
