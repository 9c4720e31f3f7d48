"""The business store and the live directory against a real nats-server (JetStream KV)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js.kv import KeyValue

from switchboard_common import subjects
from switchboard_common.business import DEMO_BUSINESS, BusinessProfile
from switchboard_common.business_store import (
    BusinessExists,
    BusinessNotFound,
    BusinessStore,
    LiveBusinessDirectory,
    NumberConflict,
    RevisionConflict,
    current_entries,
    open_directory,
    seed_from_config,
)

pytestmark = pytest.mark.timeout(60)

ACME = BusinessProfile(business_id="acme", name="Acme", phone_numbers=["+14155550100"])


async def test_crud_round_trip(store: BusinessStore) -> None:
    assert await store.get("acme") is None
    created = await store.create(ACME)
    assert created.revision > 0
    fetched = await store.get("acme")
    assert fetched == created

    changed = ACME.model_copy(update={"greeting": "Acme, hello!"})
    updated = await store.put(changed, revision=created.revision)
    assert updated.revision > created.revision
    assert (await store.get("acme")) == updated

    await store.create(DEMO_BUSINESS)
    assert [s.profile.business_id for s in await store.list()] == ["acme", "bellas-bistro"]

    await store.delete("acme")
    assert await store.get("acme") is None
    assert [s.profile.business_id for s in await store.list()] == ["bellas-bistro"]
    with pytest.raises(BusinessNotFound):
        await store.delete("acme")
    # A deleted business can be created again.
    assert (await store.create(ACME)).profile == ACME


async def test_create_refuses_an_existing_id(store: BusinessStore) -> None:
    await store.create(ACME)
    with pytest.raises(BusinessExists, match="already exists"):
        await store.create(ACME.model_copy(update={"name": "Acme 2"}))


async def test_a_stale_revision_is_refused(store: BusinessStore) -> None:
    """Two admins read revision r; the first write wins, the second is told to re-read."""
    first = await store.create(ACME)
    await store.put(ACME.model_copy(update={"greeting": "admin one"}), revision=first.revision)
    with pytest.raises(RevisionConflict, match="expected revision") as caught:
        await store.put(ACME.model_copy(update={"greeting": "admin two"}), revision=first.revision)
    assert caught.value.current is not None and caught.value.current > first.revision
    fetched = await store.get("acme")
    assert fetched is not None and fetched.profile.greeting == "admin one"
    with pytest.raises(RevisionConflict):
        await store.delete("acme", revision=first.revision)


async def test_concurrent_writers_of_one_revision_one_wins(store: BusinessStore) -> None:
    first = await store.create(ACME)
    results = await asyncio.gather(
        *(
            store.put(ACME.model_copy(update={"greeting": f"writer {i}"}), revision=first.revision)
            for i in range(5)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, RevisionConflict) for r in results if isinstance(r, BaseException))


async def test_a_number_belongs_to_one_business(store: BusinessStore) -> None:
    await store.create(ACME)
    thief = BusinessProfile(business_id="thief", name="Thief", phone_numbers=["+14155550100"])
    with pytest.raises(NumberConflict, match=r"\+14155550100 already belongs to business 'acme'"):
        await store.create(thief)
    assert await store.get("thief") is None

    # Once acme gives the number up, it is free for someone else.
    current = await store.get("acme")
    assert current is not None
    await store.put(
        ACME.model_copy(update={"phone_numbers": ["+14155550101"]}), revision=current.revision
    )
    assert (await store.create(thief)).profile.business_id == "thief"
    # ...and deleting a business frees its numbers too.
    await store.delete("thief")
    assert (await store.create(thief.model_copy(update={"business_id": "heir"}))).revision


async def test_concurrent_claims_of_one_number_one_wins(store: BusinessStore) -> None:
    rivals = [
        BusinessProfile(business_id=f"rival-{i}", name="Rival", phone_numbers=["+14155550177"])
        for i in range(5)
    ]
    results = await asyncio.gather(*(store.create(r) for r in rivals), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, NumberConflict) for r in results if isinstance(r, BaseException))
    assert [s.profile.business_id for s in await store.list()] == [winners[0].profile.business_id]


async def test_a_leftover_claim_is_taken_over(store: BusinessStore, businesses_nc: Client) -> None:
    """A writer that died between claiming a number and writing its business leaves a claim;
    once it is old and its owner does not list the number, the number is free again."""
    numbers = await businesses_nc.jetstream().key_value(subjects.BUSINESS_NUMBERS_BUCKET)
    await numbers.put("14155550100", json.dumps({"business_id": "ghost", "at": 0}).encode())
    assert (await store.create(ACME)).profile == ACME


async def test_seeding_creates_only_what_is_absent(store: BusinessStore, tmp_path: Path) -> None:
    assert await store.seed([DEMO_BUSINESS]) == ["bellas-bistro"]
    assert await store.seed([DEMO_BUSINESS]) == []
    assert await seed_from_config(store, None, seed_demo=True) == []  # not empty any more

    edited = DEMO_BUSINESS.model_copy(update={"greeting": "from the file"})
    path = tmp_path / "businesses.json"
    path.write_text(json.dumps([edited.model_dump(mode="json"), ACME.model_dump(mode="json")]))
    assert await seed_from_config(store, path) == ["acme"]
    demo = await store.get("bellas-bistro")
    assert demo is not None and demo.profile.greeting == DEMO_BUSINESS.greeting  # not overwritten


async def test_demo_seeding_only_into_an_empty_bucket_and_when_on(store: BusinessStore) -> None:
    assert await seed_from_config(store, None, seed_demo=False) == []
    assert await store.is_empty()
    assert await seed_from_config(store, None, seed_demo=True) == ["bellas-bistro"]


async def test_the_live_directory_follows_changes(store: BusinessStore) -> None:
    await store.create(DEMO_BUSINESS)
    directory = await LiveBusinessDirectory.open(store)
    try:
        assert directory.by_number("+15550100") == DEMO_BUSINESS
        assert directory.get("acme") is None

        created = await store.create(ACME)
        await directory.wait_for(lambda d: d.get("acme") is not None)
        assert directory.by_number("+14155550100") == ACME
        assert directory.revision("acme") == created.revision

        moved = ACME.model_copy(update={"phone_numbers": ["+14155550102"], "greeting": "Moved"})
        await store.put(moved, revision=created.revision)
        await directory.wait_for(lambda d: d.by_number("+14155550102") is not None)
        assert directory.by_number("+14155550100") is None  # the old number is gone with it
        current = directory.get("acme")
        assert current is not None and current.greeting == "Moved"

        await store.delete("acme")
        await directory.wait_for(lambda d: d.get("acme") is None)
        assert directory.by_number("+14155550102") is None
        assert directory.all() == [DEMO_BUSINESS]
    finally:
        await directory.close()


async def test_an_invalid_value_in_the_bucket_is_ignored(store: BusinessStore) -> None:
    """Written behind the store's back (e.g. with the nats CLI): logged and ignored, and the
    last good version stays in use."""
    good = await store.create(ACME)
    directory = await LiveBusinessDirectory.open(store)
    try:
        broken = json.loads(ACME.to_bytes()) | {"phone_numbers": ["not a number"]}
        await store.kv.put("acme", json.dumps(broken).encode())
        await directory.wait_for(lambda d: d.invalid_updates == 1)
        assert directory.get("acme") == ACME
        assert directory.revision("acme") == good.revision

        await store.kv.put("acme", b"{not json")
        # Its key is not its business id:
        await store.kv.put("other", ACME.to_bytes())
        # A second business claiming acme's number:
        clash = DEMO_BUSINESS.model_copy(update={"phone_numbers": ["+14155550100"]})
        await store.kv.put(DEMO_BUSINESS.business_id, clash.to_bytes())
        await directory.wait_for(lambda d: d.invalid_updates == 4)
        assert directory.all() == [ACME]
        assert directory.by_number("+14155550100") == ACME

        # The store does not hand out the invalid value either, and a put can repair it
        # (once the document that shares acme's number is gone).
        assert await store.get("other") is None
        repaired = ACME.model_copy(update={"greeting": "repaired"})
        with pytest.raises(NumberConflict, match="bellas-bistro"):
            await store.put(repaired)
        await store.delete(DEMO_BUSINESS.business_id)
        await store.put(repaired)
        await directory.wait_for(lambda d: (b := d.get("acme")) is not None and b == repaired)
    finally:
        await directory.close()


async def test_a_directory_started_on_a_bad_bucket_skips_the_bad_values(
    store: BusinessStore,
) -> None:
    await store.create(ACME)
    await store.kv.put("broken", b"{}")
    directory = await LiveBusinessDirectory.open(store)
    try:
        assert directory.all() == [ACME]
        assert directory.invalid_updates == 1
    finally:
        await directory.close()


async def test_open_directory_seeds_the_demo_business(businesses_nc: Client) -> None:
    directory = await open_directory(businesses_nc, seed_demo=True)
    try:
        assert directory.by_number("+15550100") == DEMO_BUSINESS
    finally:
        await directory.close()


async def test_current_entries_is_complete_even_when_the_last_message_was_purged(
    store: BusinessStore,
) -> None:
    await store.create(ACME)
    await store.create(DEMO_BUSINESS)
    await store.kv.put("scratch", b"x")
    await store.kv.delete("scratch")
    # Purging the delete marker removes the stream's last message: its sequence stays the
    # stream's last but is never delivered, which must not make the read hang or come back
    # short.
    await store.kv.purge_deletes(olderthan=-1)
    status = await store.kv.status()
    assert status.stream_info.state.last_seq > max(e.revision or 0 for e in await _all(store))
    entries = await current_entries(store.kv, lag_s=0.2)
    assert sorted(e.key for e in entries) == ["acme", "bellas-bistro"]
    assert [s.profile for s in await store.list()] == [ACME, DEMO_BUSINESS]


async def _all(store: BusinessStore) -> list[KeyValue.Entry]:
    return [await store.kv.get(key) for key in ("acme", "bellas-bistro")]


async def test_open_directory_sees_every_business_written_before_it(
    businesses_nc: Client, store: BusinessStore
) -> None:
    """Regression: the watch's "done" marker could overtake the values, so a directory opened
    right after seeding could come up empty. Repeated to give the race its chances."""
    profiles = [
        BusinessProfile(business_id=f"b{i}", name=f"B{i}", phone_numbers=[f"+1415555{i:04d}"])
        for i in range(5)
    ]
    for profile in profiles:
        await store.create(profile)
    for _ in range(20):
        directory = await LiveBusinessDirectory.open(store)
        try:
            assert directory.all() == profiles
        finally:
            await directory.close()


class _EarlyMarkerBucket:
    """A bucket whose watch sends nats-py's "initial values done" marker *before* the values,
    as nats-py can when the values are delivered but not yet handed over."""

    def __init__(self, entries: list[KeyValue.Entry]) -> None:
        self._entries = entries

    async def status(self) -> object:
        last_seq = max(e.revision or 0 for e in self._entries)
        state = type("State", (), {"last_seq": last_seq})
        return type("Status", (), {"stream_info": type("Info", (), {"state": state})})

    async def watchall(self, **_: object) -> object:
        queue: asyncio.Queue[KeyValue.Entry | None] = asyncio.Queue()
        for item in [None, *self._entries]:
            queue.put_nowait(item)

        class Watcher:
            async def updates(self, timeout: float | None = None) -> KeyValue.Entry | None:  # noqa: ASYNC109 (nats-py's signature)
                async with asyncio.timeout(timeout):
                    return await queue.get()

            async def stop(self) -> None:
                return None

        return Watcher()


async def test_a_marker_that_overtakes_the_values_does_not_end_the_load_early() -> None:
    entries = [
        KeyValue.Entry("b", p.business_id, p.to_bytes(), i + 1, 0, None, None)
        for i, p in enumerate([ACME, DEMO_BUSINESS])
    ]
    bucket = _EarlyMarkerBucket(entries)
    assert sorted(e.key for e in await current_entries(bucket)) == ["acme", "bellas-bistro"]  # type: ignore[arg-type]
    directory = LiveBusinessDirectory(bucket)  # type: ignore[arg-type]
    await directory.start()
    try:
        assert directory.all() == [ACME, DEMO_BUSINESS]
    finally:
        await directory.close()
