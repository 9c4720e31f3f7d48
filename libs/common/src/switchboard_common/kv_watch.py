"""Reading a JetStream key-value bucket's current content completely, then its changes.

nats-py's watcher may say "initial values done" before it has handed over every value, so a
plain ``watchall()`` can miss the latest ones. Both the business store (listing) and the live
directory (its initial load) need the whole bucket, so the workaround lives here, once.
"""

from __future__ import annotations

import contextlib

import nats.errors
from nats.js.kv import KeyValue

#: The operations of an entry that removes its key.
DELETE_OPS = ("DEL", "PURGE")


async def watch_from_current(
    kv: KeyValue, lag_s: float, first_timeout_s: float | None
) -> tuple[KeyValue.KeyWatcher, list[KeyValue.Entry]]:
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


async def current_entries(kv: KeyValue, lag_s: float = 1.0) -> list[KeyValue.Entry]:
    """The latest value of every key (deleted keys left out), complete (see
    :func:`watch_from_current`)."""
    watcher, entries = await watch_from_current(kv, lag_s, first_timeout_s=10.0)
    with contextlib.suppress(Exception):
        await watcher.stop()  # type: ignore[no-untyped-call]
    latest = {entry.key: entry for entry in entries}
    return [e for e in latest.values() if e.operation not in DELETE_OPS]
