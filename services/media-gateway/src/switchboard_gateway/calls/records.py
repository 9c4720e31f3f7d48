"""Call records in the JetStream key-value bucket: a call's state outside any one process."""

from __future__ import annotations

import logging

from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.kv import KeyValue

from switchboard_common import subjects
from switchboard_common.buckets import BucketSettings, ensure_bucket
from switchboard_common.messages import CallRecord

log = logging.getLogger(__name__)


class CallRecords:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, nc: Client, ttl_s: float) -> CallRecords:
        config = KeyValueConfig(
            bucket=subjects.CALLS_BUCKET,
            history=1,
            ttl=ttl_s,
            replicas=BucketSettings().replicas,
        )
        return cls(await ensure_bucket(nc, config))

    async def put(self, record: CallRecord) -> None:
        """Best effort: a KV hiccup is logged, it never breaks a live call."""
        try:
            await self._kv.put(record.call_id, record.to_bytes())
        except Exception as exc:
            log.warning("call %s: record not saved: %s", record.call_id, exc)

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
