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

This module is the public face (import from here) and holds what every service runs at
start-up (:func:`open_directory`). The store is in :mod:`.business_bucket`, the directory in
:mod:`.business_directory`, and the complete read of a bucket both rely on in :mod:`.kv_watch`.
"""

from __future__ import annotations

from pathlib import Path

from nats.aio.client import Client
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .bus import on_reconnect
from .business import DEMO_BUSINESS, load_businesses_file
from .business_bucket import (
    BUSINESS_HISTORY,
    BusinessExists,
    BusinessNotFound,
    BusinessStore,
    BusinessStoreError,
    NumberConflict,
    RevisionConflict,
    StoredBusiness,
)
from .business_directory import LiveBusinessDirectory
from .kv_watch import current_entries
from .settings import DEFAULT_ENVIRONMENT, DEVELOPMENT

__all__ = [
    "BUSINESS_HISTORY",
    "BusinessExists",
    "BusinessNotFound",
    "BusinessStore",
    "BusinessStoreError",
    "LiveBusinessDirectory",
    "NumberConflict",
    "RevisionConflict",
    "SeedSettings",
    "StoredBusiness",
    "current_entries",
    "open_directory",
    "seed_from_config",
]


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
