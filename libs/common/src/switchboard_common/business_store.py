"""Businesses in JetStream key-value: the store (writes) and the live directory (reads).

This module is the public face (import from here) and holds what every service runs at
start-up (:func:`open_directory`). The store, its buckets and their rules (revisions, one
owner a number) are in :mod:`.business_bucket`; the directory, which swaps in each change
whole and keeps the last good version of a bad one, in :mod:`.business_directory`; the
complete read of a bucket both rely on in :mod:`.kv_watch`.
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
