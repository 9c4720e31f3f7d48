"""The business bucket: create, read, update and delete businesses, with number uniqueness.

* Bucket ``sb_businesses``: key = business id, value = the :class:`BusinessProfile` JSON
  (versioned by its ``v`` field). Every write is conditional on the key's KV revision, so two
  admins cannot silently overwrite each other.
* Bucket ``sb_business_numbers``: key = a number's E.164 digits, value = the owning business.
  A claim is created atomically (``kv.create``) before the business is written, so two
  concurrent writers cannot both take a number. A claim left behind by a write that failed
  half-way is taken over once it is :attr:`BusinessStore.stale_claim_s` old and its owner's
  document does not list the number.

Only admins write (the gateway's admin API and console, the CLI); every service reads through
the live directory (:mod:`.business_directory`), so the writes and their refusals are kept
apart from it. Import from :mod:`.business_store`, the public face.
"""

from __future__ import annotations

import builtins
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import (
    APIError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue

from . import subjects
from .buckets import BucketSettings, ensure_bucket
from .business import BusinessProfile
from .kv_watch import current_entries

# Named as before the store was split out of business_store.py, so log filters still match.
log = logging.getLogger("switchboard_common.business_store")

#: How many past versions of each business the bucket keeps (for audit and rollback).
BUSINESS_HISTORY = 10
#: JetStream's "wrong last sequence" error codes (conditional write refused).
_WRONG_LAST_SEQUENCE = (10071, 10164)


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
            return revision, decode_profile(business_id, entry.value)
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
                profile = decode_profile(entry.key, entry.value)
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


def decode_profile(key: str, value: bytes | None) -> BusinessProfile:
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
