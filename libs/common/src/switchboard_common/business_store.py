"""Businesses in JetStream key-value: the store (writes) and the live directory (reads).

* Bucket ``sb_businesses``: key = business id, value = the :class:`BusinessProfile` JSON
  (versioned by its ``v`` field). Every write is conditional on the key's KV revision, so two
  admins cannot silently overwrite each other.
* Bucket ``sb_business_numbers``: key = a number's E.164 digits, value = the owning business.
  A claim is created atomically (``kv.create``) before the business is written, so two
  concurrent writers cannot both take a number. A claim left behind by a write that failed
  half-way is taken over once it is :attr:`BusinessStore.stale_claim_s` old and its owner's
  document does not list the number.
* :class:`LiveBusinessDirectory` watches the bucket and swaps in each change whole, so a
  change applies to the next call without a restart. A value that does not validate (or that
  would give a number two owners) is logged and ignored; the last good version stays.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nats.errors
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import (
    APIError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import subjects
from .buckets import BucketSettings, ensure_bucket
from .bus import on_reconnect
from .business import DEMO_BUSINESS, BusinessProfile, load_businesses_file
from .settings import DEFAULT_ENVIRONMENT, DEVELOPMENT

log = logging.getLogger(__name__)

#: How many past versions of each business the bucket keeps (for audit and rollback).
BUSINESS_HISTORY = 10
#: JetStream's "wrong last sequence" error codes (conditional write refused).
_WRONG_LAST_SEQUENCE = (10071, 10164)
_DELETE_OPS = ("DEL", "PURGE")


class BusinessStoreError(Exception):
    """Base of the store's refusals; ``str()`` is a message fit for an admin."""


class BusinessNotFound(BusinessStoreError):
    def __init__(self, business_id: str) -> None:
        super().__init__(f"no business {business_id!r}")
        self.business_id = business_id


class BusinessExists(BusinessStoreError):
    def __init__(self, business_id: str, revision: int) -> None:
        super().__init__(f"business {business_id!r} already exists (revision {revision})")
        self.business_id = business_id
        self.revision = revision


class RevisionConflict(BusinessStoreError):
    """Someone else changed the business since the revision the writer read."""

    def __init__(self, business_id: str, expected: int, current: int | None) -> None:
        now = f"revision {current}" if current else "deleted"
        super().__init__(
            f"business {business_id!r} changed: you expected revision {expected}, it is now "
            f"{now}; read it again and re-apply your change"
        )
        self.business_id = business_id
        self.expected = expected
        self.current = current


class NumberConflict(BusinessStoreError):
    def __init__(self, number: str, owner: str, business_id: str) -> None:
        super().__init__(
            f"phone number {number} already belongs to business {owner!r}; remove it there "
            f"before giving it to {business_id!r}"
        )
        self.number = number
        self.owner = owner
        self.business_id = business_id


@dataclass(frozen=True)
class StoredBusiness:
    """A business as stored, with the KV revision to send back on the next write."""

    profile: BusinessProfile
    revision: int


async def _bucket(nc: Client, name: str, history: int, description: str) -> KeyValue:
    replicas = BucketSettings().replicas
    config = KeyValueConfig(
        bucket=name, history=history, description=description, replicas=replicas
    )
    return await ensure_bucket(nc, config)


def _number_key(number: str) -> str:
    return number.lstrip("+")


class BusinessStore:
    """Create, read, update and delete businesses in the bucket, with number uniqueness."""

    #: A number claim this old, whose owner does not list the number, is a leftover.
    stale_claim_s: float = 30.0

    def __init__(self, kv: KeyValue, numbers: KeyValue) -> None:
        self.kv = kv
        self._numbers = numbers

    @classmethod
    async def open(cls, nc: Client) -> BusinessStore:
        """Open both buckets, creating them when they do not exist yet."""
        kv = await _bucket(
            nc, subjects.BUSINESSES_BUCKET, BUSINESS_HISTORY, "Switchboard businesses"
        )
        numbers = await _bucket(
            nc, subjects.BUSINESS_NUMBERS_BUCKET, 1, "Switchboard phone number owners"
        )
        return cls(kv, numbers)

    # --- reads -------------------------------------------------------------------------------

    async def _entry(self, business_id: str) -> tuple[int, BusinessProfile | None] | None:
        """(revision, profile) of the current value; profile None when it does not validate."""
        try:
            entry = await self.kv.get(business_id)
        except KeyNotFoundError:
            return None
        revision = entry.revision or 0
        try:
            return revision, _decode(business_id, entry.value)
        except ValueError as exc:
            log.warning("business %s (revision %d) is invalid: %s", business_id, revision, exc)
            return revision, None

    async def get(self, business_id: str) -> StoredBusiness | None:
        """The business, or None when absent. A stored value that does not validate counts as
        absent here (it is logged); a ``put`` can replace it."""
        found = await self._entry(business_id)
        if found is None or found[1] is None:
            return None
        return StoredBusiness(found[1], found[0])

    async def list(self) -> list[StoredBusiness]:
        """Every valid business, by id (one pass over the bucket's latest values)."""
        found: list[StoredBusiness] = []
        for entry in await current_entries(self.kv):
            try:
                profile = _decode(entry.key, entry.value)
            except ValueError as exc:
                log.warning("business %s is invalid: %s", entry.key, exc)
                continue
            found.append(StoredBusiness(profile, entry.revision or 0))
        return sorted(found, key=lambda s: s.profile.business_id)

    # --- writes ------------------------------------------------------------------------------

    async def create(self, profile: BusinessProfile) -> StoredBusiness:
        """Add a new business; :class:`BusinessExists` when the id is taken."""
        return await self.put(profile, revision=0)

    async def put(self, profile: BusinessProfile, revision: int | None = None) -> StoredBusiness:
        """Write a business.

        ``revision``: ``0`` means it must not exist yet, ``n`` means it must still be at
        revision ``n`` (what the writer read), ``None`` writes over whatever is there now.
        Raises :class:`NumberConflict`, :class:`BusinessExists` or :class:`RevisionConflict`.
        """
        business_id = profile.business_id
        current = await self._entry(business_id)
        current_revision = current[0] if current else 0
        if revision is not None and revision != current_revision:
            if revision == 0:
                raise BusinessExists(business_id, current_revision)
            raise RevisionConflict(business_id, revision, current_revision or None)
        old_numbers = set(current[1].phone_numbers) if current and current[1] else set()

        await self._check_numbers_against_documents(profile)
        claimed = await self._claim_all(profile)
        data = profile.to_bytes()
        try:
            if current_revision == 0:
                new_revision = await self.kv.create(business_id, data)
            else:
                new_revision = await self.kv.update(business_id, data, last=current_revision)
        except KeyWrongLastSequenceError:  # someone wrote it between our read and write
            await self._undo_claims(business_id, claimed)
            now = await self._entry(business_id)
            now_revision = now[0] if now else None
            if current_revision == 0 and now_revision:
                raise BusinessExists(business_id, now_revision) from None
            raise RevisionConflict(business_id, current_revision, now_revision) from None
        except BaseException:
            await self._undo_claims(business_id, claimed)
            raise
        await self._release(business_id, old_numbers - set(profile.phone_numbers))
        return StoredBusiness(profile, new_revision)

    async def delete(self, business_id: str, revision: int | None = None) -> None:
        """Remove a business (and free its numbers). ``revision``: as in :meth:`put`."""
        current = await self._entry(business_id)
        if current is None:
            raise BusinessNotFound(business_id)
        current_revision, profile = current
        if revision is not None and revision != current_revision:
            raise RevisionConflict(business_id, revision, current_revision)
        try:
            await self.kv.delete(business_id, last=current_revision)
        except APIError as exc:
            if exc.err_code in _WRONG_LAST_SEQUENCE:
                now = await self._entry(business_id)
                raise RevisionConflict(
                    business_id, current_revision, now[0] if now else None
                ) from None
            raise
        if profile is not None:
            await self._release(business_id, set(profile.phone_numbers))

    async def seed(self, profiles: Iterable[BusinessProfile]) -> builtins.list[str]:
        """Create each business that does not exist yet (never overwrites); returns the ids
        created. A business whose number is taken by another one is skipped with a warning."""
        created: list[str] = []
        for profile in profiles:
            try:
                await self.create(profile)
            except BusinessExists:
                continue
            except NumberConflict as exc:
                log.warning("not seeding %s: %s", profile.business_id, exc)
                continue
            log.info("seeded business %s", profile.business_id)
            created.append(profile.business_id)
        return created

    async def is_empty(self) -> bool:
        return not await self.list()

    # --- phone number claims -----------------------------------------------------------------

    async def _check_numbers_against_documents(self, profile: BusinessProfile) -> None:
        """The clear error for the usual case (a number listed by another business), and a
        guard for documents written without claims (e.g. by hand with the nats CLI)."""
        wanted = set(profile.phone_numbers)
        for other in await self.list():
            if other.profile.business_id == profile.business_id:
                continue
            for number in other.profile.phone_numbers:
                if number in wanted:
                    raise NumberConflict(number, other.profile.business_id, profile.business_id)

    async def _claim_all(self, profile: BusinessProfile) -> set[str]:
        """Claim each number for the business; returns the claims newly made (to undo)."""
        claimed: set[str] = set()
        try:
            for number in profile.phone_numbers:
                if await self._claim(number, profile.business_id):
                    claimed.add(number)
        except BaseException:
            await self._release(profile.business_id, claimed)
            raise
        return claimed

    async def _claim(self, number: str, business_id: str) -> bool:
        """True when a claim was made now, False when the business already held it."""
        key = _number_key(number)
        value = json.dumps({"business_id": business_id, "at": time.time()}).encode()
        for _ in range(3):
            try:
                await self._numbers.create(key, value)
                return True
            except KeyWrongLastSequenceError:
                pass
            try:
                entry = await self._numbers.get(key)
            except KeyNotFoundError:
                continue  # released meanwhile: try to create it again
            owner, at = _read_claim(entry.value)
            if owner == business_id:
                return False
            if owner and not await self._leftover_claim(number, owner, at):
                raise NumberConflict(number, owner, business_id)
            try:
                await self._numbers.update(key, value, last=entry.revision)
                log.info("number %s: took over a leftover claim of %r", number, owner)
                return True
            except KeyWrongLastSequenceError:
                continue
        raise NumberConflict(number, "another writer", business_id)

    async def _leftover_claim(self, number: str, owner: str, at: float) -> bool:
        if time.time() - at < self.stale_claim_s:
            return False  # possibly a write in flight: the owner is about to list it
        found = await self._entry(owner)
        return found is None or found[1] is None or number not in found[1].phone_numbers

    async def _undo_claims(self, business_id: str, claimed: set[str]) -> None:
        """After a failed write: release the claims made for it, except numbers the business's
        stored document lists (a concurrent writer of the same business may rely on them)."""
        current = await self._entry(business_id)
        listed = set(current[1].phone_numbers) if current and current[1] else set()
        await self._release(business_id, claimed - listed)

    async def _release(self, business_id: str, numbers: Iterable[str]) -> None:
        """Best effort: free the business's claims on these numbers (never someone else's)."""
        for number in numbers:
            key = _number_key(number)
            try:
                entry = await self._numbers.get(key)
                if _read_claim(entry.value)[0] == business_id:
                    await self._numbers.delete(key, last=entry.revision)
            except Exception as exc:  # a leftover claim is taken over later, never fatal
                log.info("number %s: claim not released: %s", number, exc)


async def _watch_from_current(
    kv: KeyValue, lag_s: float, first_timeout_s: float | None
) -> tuple[KeyValue.KeyWatcher, builtins.list[KeyValue.Entry]]:
    """Start watching every key and read the bucket's current values (deletes included, in
    stream order); the watcher then goes on with later changes. The caller stops it.

    nats-py's watcher may signal "initial values done" before values already delivered have
    been handed over (it checks the consumer's pending count, not what reached the callback),
    so this also waits, at most ``lag_s`` after that signal, until it has seen the bucket's
    last sequence as of the call (at most: that message may since have been purged, and then
    it never comes). ``first_timeout_s`` bounds each wait before the signal.
    """
    target = (await kv.status()).stream_info.state.last_seq
    watcher = await kv.watchall()
    entries: list[KeyValue.Entry] = []
    seen = 0
    marker = False
    try:
        while not (marker and seen >= target):
            try:
                entry = await watcher.updates(  # type: ignore[no-untyped-call]
                    timeout=lag_s if marker else first_timeout_s
                )
            except nats.errors.TimeoutError:
                if marker:
                    break  # the last message was purged: what came is all there is
                raise
            if entry is None:
                marker = True
            elif isinstance(entry, KeyValue.Entry):
                seen = max(seen, entry.revision or 0)
                entries.append(entry)
            else:
                raise RuntimeError("bucket watch stopped")
    except BaseException:
        with contextlib.suppress(Exception):
            await watcher.stop()  # type: ignore[no-untyped-call]
        raise
    return watcher, entries


async def current_entries(kv: KeyValue, lag_s: float = 1.0) -> builtins.list[KeyValue.Entry]:
    """The latest value of every key (deleted keys left out), complete (see
    :func:`_watch_from_current`)."""
    watcher, entries = await _watch_from_current(kv, lag_s, first_timeout_s=10.0)
    with contextlib.suppress(Exception):
        await watcher.stop()  # type: ignore[no-untyped-call]
    latest = {entry.key: entry for entry in entries}
    return [e for e in latest.values() if e.operation not in _DELETE_OPS]


def _decode(key: str, value: bytes | None) -> BusinessProfile:
    """A stored value as a profile; ``ValueError`` when invalid or under someone else's key."""
    profile = BusinessProfile.from_stored(value or b"")
    if profile.business_id != key:
        raise ValueError(f"stored under {key!r} but its business_id is {profile.business_id!r}")
    return profile


def _read_claim(value: bytes | None) -> tuple[str, float]:
    try:
        raw = json.loads(value or b"")
        return str(raw["business_id"]), float(raw.get("at", 0.0))
    except (ValueError, KeyError, TypeError):
        return "", 0.0


# --- the live directory --------------------------------------------------------------------


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
                watcher, current = await _watch_from_current(
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
        if entry.operation in _DELETE_OPS:
            if key not in base.by_id:
                return base
            log.info("business %s removed", key)
            return self._without(base, key)
        try:
            profile = _decode(key, entry.value)
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


# --- how services start --------------------------------------------------------------------


class SeedSettings(BaseSettings):
    """Env: ``SWITCHBOARD_SEED_DEMO`` (default: true in development, ``SWITCHBOARD_ENV``)."""

    model_config = SettingsConfigDict(extra="ignore")

    environment: str = Field(
        DEFAULT_ENVIRONMENT, validation_alias=AliasChoices("SWITCHBOARD_ENV", "environment")
    )
    seed_demo: bool | None = Field(
        None, validation_alias=AliasChoices("SWITCHBOARD_SEED_DEMO", "seed_demo")
    )

    @property
    def demo(self) -> bool:
        if self.seed_demo is None:
            return self.environment == DEVELOPMENT
        return self.seed_demo


async def seed_from_config(
    store: BusinessStore, businesses_file: Path | None, seed_demo: bool | None = None
) -> list[str]:
    """What every service does at start-up, before it reads businesses:

    * with a businesses file, create each of its businesses that is absent (the bucket stays
      the source of truth: an existing business is never overwritten from the file);
    * otherwise, when the bucket is empty and demo seeding is on, create the demo business.

    Safe to run from several processes at once (creates are atomic).
    """
    if businesses_file is not None:
        return await store.seed(load_businesses_file(businesses_file))
    if seed_demo is None:
        seed_demo = SeedSettings().demo
    if seed_demo and await store.is_empty():
        return await store.seed([DEMO_BUSINESS])
    return []


async def open_directory(
    nc: Client,
    businesses_file: Path | None = None,
    seed_demo: bool | None = None,
    store: BusinessStore | None = None,
) -> LiveBusinessDirectory:
    """Open the store, seed it as configured, and return the live directory (loaded)."""
    store = store or await BusinessStore.open(nc)
    await seed_from_config(store, businesses_file, seed_demo)
    directory = await LiveBusinessDirectory.open(store)
    on_reconnect(nc, directory.resync)
    return directory
