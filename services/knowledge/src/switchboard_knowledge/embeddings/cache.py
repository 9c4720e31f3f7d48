"""A content-hash cache in front of any embedder: re-ingesting unchanged text never re-embeds.

Key: sha256(model name, NUL, text). The model name is part of the key, so switching models
(or OpenAI dimensions) never reuses a vector. Two levels:

* an in-memory LRU (``memory_items`` vectors);
* optionally a sqlite3 file (vectors as float32 bytes), shared across restarts and by
  several processes (WAL mode).

All sqlite I/O runs on one dedicated thread, never on the event loop. The cache never makes
embedding fail: a sqlite error is logged and the text is embedded as if it were a miss.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

from .base import Embedder, Vectors, empty_vectors

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DEFAULT_MEMORY_ITEMS = 20_000
#: Keys per sqlite ``IN (...)`` lookup (well under sqlite's variable limit).
_LOOKUP_CHUNK = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    key BLOB PRIMARY KEY,
    dimensions INTEGER NOT NULL,
    vector BLOB NOT NULL
) WITHOUT ROWID
"""


def cache_key(model: str, text: str) -> bytes:
    return hashlib.sha256(model.encode() + b"\0" + text.encode("utf-8", "surrogatepass")).digest()


class CachedEmbedder:
    """Wraps ``inner``; same ``name`` and ``dimensions``. ``path=None``: memory only."""

    def __init__(
        self,
        inner: Embedder,
        path: Path | str | None = None,
        *,
        memory_items: int = DEFAULT_MEMORY_ITEMS,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimensions = inner.dimensions
        self.path = Path(path) if path is not None else None
        self._memory: OrderedDict[bytes, Vectors] = OrderedDict()
        self._memory_items = memory_items
        self._db: sqlite3.Connection | None = None
        self._io: ThreadPoolExecutor | None = None
        self._closed = False
        #: Counters, for tests and metrics.
        self.memory_hits = 0
        self.disk_hits = 0
        self.misses = 0

    # -- sqlite, on the I/O thread only --------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            db.commit()
            self._db = db
        return self._db

    def _read(self, keys: list[bytes]) -> dict[bytes, Vectors]:
        db = self._connect()
        found: dict[bytes, Vectors] = {}
        for i in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[i : i + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT key, dimensions, vector FROM embeddings WHERE key IN ({marks})",  # noqa: S608 - only placeholders
                chunk,
            ).fetchall()
            for key, dims, blob in rows:
                if dims == self.dimensions and len(blob) == dims * 4:
                    found[bytes(key)] = np.frombuffer(blob, dtype="<f4").astype(np.float32)
        return found

    def _write(self, items: list[tuple[bytes, Vectors]]) -> None:
        db = self._connect()
        with db:
            db.executemany(
                "INSERT OR REPLACE INTO embeddings (key, dimensions, vector) VALUES (?, ?, ?)",
                [(k, self.dimensions, v.astype("<f4").tobytes()) for k, v in items],
            )

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def _on_io(self, fn: Callable[..., _T], *args: object) -> _T:
        if self._io is None:
            self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-cache")
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    # -- memory ---------------------------------------------------------------------------

    def _remember(self, key: bytes, vector: Vectors) -> None:
        vector.setflags(write=False)
        self._memory[key] = vector
        self._memory.move_to_end(key)
        while len(self._memory) > self._memory_items:
            self._memory.popitem(last=False)

    # -- the contract ---------------------------------------------------------------------

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if self._closed:
            raise RuntimeError("the embedding cache is closed")
        if not texts:
            return empty_vectors(self.dimensions)
        keys = [cache_key(self.name, t) for t in texts]
        found: dict[bytes, Vectors] = {}
        for key in keys:
            vector = self._memory.get(key)
            if vector is not None:
                self._memory.move_to_end(key)
                found[key] = vector
        self.memory_hits += sum(1 for k in keys if k in found)

        wanted = list(dict.fromkeys(k for k in keys if k not in found))
        if wanted and self.path is not None:
            try:
                on_disk = await self._on_io(self._read, wanted)
            except sqlite3.Error as exc:
                log.warning("embedding cache read failed (%s): embedding instead", exc)
                on_disk = {}
            self.disk_hits += sum(1 for k in keys if k in on_disk)
            for key, vector in on_disk.items():
                self._remember(key, vector)
            found.update(on_disk)
            wanted = [k for k in wanted if k not in found]

        if wanted:
            text_of = dict(zip(keys, texts, strict=True))
            fresh = await self.inner.embed([text_of[k] for k in wanted])
            self.misses += len(wanted)
            new = [(k, np.array(v, dtype=np.float32)) for k, v in zip(wanted, fresh, strict=True)]
            for key, vector in new:
                self._remember(key, vector)
                found[key] = vector
            if self.path is not None:
                try:
                    await self._on_io(self._write, new)
                except sqlite3.Error as exc:
                    log.warning("embedding cache write failed (%s)", exc)

        return np.stack([found[k] for k in keys]).astype(np.float32, copy=True)

    async def aclose(self) -> None:
        """Close the sqlite file (and the inner embedder, if it has ``aclose``)."""
        if self._closed:
            return
        self._closed = True
        if self._io is not None:
            await self._on_io(self._close_db)
            self._io.shutdown(wait=True)
            self._io = None
        closer = getattr(self.inner, "aclose", None)
        if closer is not None:
            await closer()
