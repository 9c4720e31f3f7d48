"""The live directory of businesses: every service's view of the bucket, kept current.

:class:`LiveBusinessDirectory` watches the bucket and swaps in each change whole, so a change
applies to the next call without a restart. A value that does not validate (or that would give
a number two owners) is logged and ignored; the last good version stays. Services only read,
so this is apart from the store's writes (:mod:`.business_bucket`). Import from
:mod:`.business_store`, the public face.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from nats.js.kv import KeyValue

from .business import BusinessProfile
from .business_bucket import BusinessStore, decode_profile
from .kv_watch import DELETE_OPS, watch_from_current

# Named as before the directory was split out of business_store.py, so log filters still match.
log = logging.getLogger("switchboard_common.business_store")


@dataclass(frozen=True)
class _Snapshot:
    by_id: dict[str, BusinessProfile] = field(default_factory=dict)
    by_number: dict[str, BusinessProfile] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)


class LiveBusinessDirectory:
    """The same reads as :class:`~.business.BusinessDirectory`, kept current by a KV watch.

    Each change replaces the whole snapshot at once, so a reader never sees a half-applied
    business. A value that fails validation, whose key is not its ``business_id``, or that
    would give a number to two businesses is logged and ignored, keeping the last good one.
    """

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._snapshot = _Snapshot()
        self._changed = asyncio.Condition()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Values seen and ignored because they were invalid (for tests and metrics).
        self.invalid_updates = 0

    #: How long the initial load waits for values the watch's "done" marker overtook.
    initial_lag_s: float = 1.0

    @classmethod
    async def open(cls, store: BusinessStore, timeout_s: float = 10.0) -> LiveBusinessDirectory:
        """Start watching and return once the bucket's current content is loaded."""
        directory = cls(store.kv)
        await directory.start(timeout_s)
        return directory

    async def start(self, timeout_s: float = 10.0) -> None:
        self._task = asyncio.create_task(self._watch(), name="business-directory")
        try:
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
        except TimeoutError:
            await self.close()
            raise RuntimeError(f"businesses not loaded from KV within {timeout_s} s") from None

    def resync(self) -> None:
        """Start the watch again (after a reconnect: the server may have lost its consumer).
        The snapshot in use stays until the reload swaps in a whole new one."""
        if self._task is None:
            return
        self._task.cancel()
        self._task = asyncio.create_task(self._watch(), name="business-directory")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- reads (what services use) -----------------------------------------------------------

    def get(self, business_id: str) -> BusinessProfile | None:
        return self._snapshot.by_id.get(business_id)

    def by_number(self, number: str) -> BusinessProfile | None:
        return self._snapshot.by_number.get(number)

    def all(self) -> list[BusinessProfile]:
        return sorted(self._snapshot.by_id.values(), key=lambda b: b.business_id)

    def revision(self, business_id: str) -> int | None:
        """The KV revision of the version in use."""
        return self._snapshot.revisions.get(business_id)

    async def wait_for(
        self, predicate: Callable[[LiveBusinessDirectory], bool], timeout_s: float = 5.0
    ) -> None:
        """Until ``predicate(self)`` holds after some change (``TimeoutError`` past the bound)."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    # --- the watch ---------------------------------------------------------------------------

    async def _watch(self) -> None:
        """(Re)start the watch; each start rebuilds the snapshot from the bucket, so nothing
        deleted while a watch was down lingers."""
        while True:
            watcher = None
            try:
                watcher, current = await watch_from_current(
                    self._kv, self.initial_lag_s, first_timeout_s=None
                )
                loading = _Snapshot()  # the current values, swapped in whole
                for entry in current:
                    loading = self._apply(loading, entry)
                await self._swap(loading)
                self._ready.set()
                while True:
                    entry = await watcher.updates(timeout=None)  # type: ignore[no-untyped-call]
                    if entry is None:
                        continue
                    if not isinstance(entry, KeyValue.Entry):  # stopped under us
                        raise RuntimeError("business watch stopped")
                    await self._swap(self._apply(self._snapshot, entry))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("business watch failed, restarting: %s", exc)
            finally:
                if watcher is not None:
                    with contextlib.suppress(Exception):
                        await watcher.stop()  # type: ignore[no-untyped-call]
            await asyncio.sleep(1.0)

    async def _swap(self, snapshot: _Snapshot) -> None:
        async with self._changed:
            self._snapshot = snapshot
            self._changed.notify_all()

    def _apply(self, base: _Snapshot, entry: KeyValue.Entry) -> _Snapshot:
        key = entry.key
        if entry.operation in DELETE_OPS:
            if key not in base.by_id:
                return base
            log.info("business %s removed", key)
            return self._without(base, key)
        try:
            profile = decode_profile(key, entry.value)
            self._check_numbers(base, profile)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            self.invalid_updates += 1
            # Keep the last good version: the one in base, or (while a restarted watch
            # reloads) the one in use until now.
            kept_profile = base.by_id.get(key) or self._snapshot.by_id.get(key)
            kept = base.revisions.get(key) or self._snapshot.revisions.get(key)
            log.error(
                "business %s revision %s is invalid and ignored (%s): %s",
                key,
                entry.revision,
                f"keeping revision {kept}" if kept_profile else "not loaded",
                exc,
            )
            if kept_profile is not None and key not in base.by_id:
                with contextlib.suppress(ValueError):
                    self._check_numbers(base, kept_profile)
                    return self._with(base, kept_profile, kept or 0)
            return _Snapshot(base.by_id, base.by_number, base.revisions)  # wakes waiters
        log.info("business %s at revision %s", key, entry.revision)
        return self._with(base, profile, entry.revision or 0)

    @staticmethod
    def _check_numbers(base: _Snapshot, profile: BusinessProfile) -> None:
        for number in profile.phone_numbers:
            owner = base.by_number.get(number)
            if owner is not None and owner.business_id != profile.business_id:
                raise ValueError(f"number {number} already belongs to {owner.business_id!r}")

    @classmethod
    def _with(cls, base: _Snapshot, profile: BusinessProfile, revision: int) -> _Snapshot:
        key = profile.business_id
        rest = cls._without(base, key)
        return _Snapshot(
            {**rest.by_id, key: profile},
            {**rest.by_number, **dict.fromkeys(profile.phone_numbers, profile)},
            {**rest.revisions, key: revision},
        )

    @staticmethod
    def _without(base: _Snapshot, key: str) -> _Snapshot:
        return _Snapshot(
            {k: v for k, v in base.by_id.items() if k != key},
            {n: b for n, b in base.by_number.items() if b.business_id != key},
            {k: r for k, r in base.revisions.items() if k != key},
        )
