"""The embedded vector backend: usearch HNSW + sqlite, in files under one directory.

For the local run command and tests (production uses Weaviate behind the same contract).
Layout: ``<path>/<business_id>/chunks.sqlite3`` (documents, chunks, exact vectors, FTS5) and
``<path>/<business_id>/vectors.usearch`` (cosine HNSW, f16). A directory per business makes
tenant isolation structural rather than a filter that could be forgotten.

All blocking work runs in a dedicated thread pool; locking lives in
:mod:`.embedded_store`. The index is saved ``save_delay_s`` after the last write (a save of
100k vectors takes tens of ms, too slow to repeat per write) and on :meth:`close`; sqlite is
committed on every write and is the truth the index is reconciled with when reopened.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from switchboard_common.ids import TOKEN_RE

from .base import BackendUnavailable, ChunkRecord, DocumentRecord, ScoredChunk, Vector
from .embedded_store import DB_FILE, BusinessStore, as_vector
from .fusion import DEFAULT_ALPHA

T = TypeVar("T")

#: Worker threads: searches run concurrently, one writer per business at a time.
DEFAULT_WORKERS = 4


class EmbeddedBackend:
    """:class:`~.base.KnowledgeBackend` on local files; see the module docstring."""

    name = "embedded"

    def __init__(
        self,
        path: Path,
        dimensions: int,
        *,
        alpha: float = DEFAULT_ALPHA,
        save_delay_s: float = 1.0,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        """``alpha`` weighs the vector side of the fused score (:mod:`.fusion`; 1: vector only)."""
        if dimensions <= 0:
            raise ValueError("dimensions must be positive")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError("alpha must be within [0, 1] (0 = BM25 only, 1 = vector only)")
        self.path = Path(path)
        self.dimensions = dimensions
        self.alpha = alpha
        self.save_delay_s = save_delay_s
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._stores: dict[str, BusinessStore] = {}
        self._open_lock = threading.Lock()
        self._save_timers: dict[str, asyncio.TimerHandle] = {}
        self._saves: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._executor is not None:
            return
        try:
            await asyncio.to_thread(self.path.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendUnavailable(f"cannot use {self.path}: {exc}") from exc
        self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="kb-embedded")

    async def close(self) -> None:
        """Save every changed index and close the databases."""
        if self._executor is None:
            return
        for timer in self._save_timers.values():
            timer.cancel()
        self._save_timers.clear()
        if self._saves:
            await asyncio.gather(*self._saves, return_exceptions=True)
        executor, self._executor = self._executor, None
        await asyncio.get_running_loop().run_in_executor(executor, self._close_stores)
        executor.shutdown(wait=True)

    def _close_stores(self) -> None:
        with self._open_lock:
            stores, self._stores = self._stores, {}
        errors = []
        for store in stores.values():
            try:
                store.close()
            except Exception as exc:  # keep closing the others
                errors.append(exc)
        if errors:
            raise BackendUnavailable(f"could not save {len(errors)} index(es): {errors[0]}")

    # ------------------------------------------------------------------ plumbing

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            raise BackendUnavailable("the embedded backend is not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    def _store(self, business_id: str, create: bool) -> BusinessStore | None:
        """The business's store, opened on first use; None if it has none and ``create`` is
        false (reading an unknown business creates nothing)."""
        store = self._stores.get(business_id)
        if store is not None:
            return store
        if not TOKEN_RE.fullmatch(business_id):
            if create:
                raise ValueError(f"business id {business_id!r} is not a valid token")
            return None
        directory = self.path / business_id
        with self._open_lock:
            store = self._stores.get(business_id)
            if store is None:
                if not create and not (directory / DB_FILE).exists():
                    return None
                try:
                    store = BusinessStore(directory, self.dimensions, alpha=self.alpha)
                except OSError as exc:
                    raise BackendUnavailable(f"cannot open {directory}: {exc}") from exc
                self._stores[business_id] = store
            return store

    def _schedule_save(self, business_id: str) -> None:
        """Debounce: one save ``save_delay_s`` after the last write to this business."""
        if self._executor is None:
            return
        loop = asyncio.get_running_loop()
        timer = self._save_timers.pop(business_id, None)
        if timer is not None:
            timer.cancel()
        self._save_timers[business_id] = loop.call_later(
            self.save_delay_s, self._start_save, business_id
        )

    def _start_save(self, business_id: str) -> None:
        self._save_timers.pop(business_id, None)
        store = self._stores.get(business_id)
        if store is None or self._executor is None:
            return
        task = asyncio.get_running_loop().create_task(self._run(store.save))
        self._saves.add(task)
        task.add_done_callback(self._saves.discard)

    async def flush(self) -> None:
        """Save every changed index now (tests, benchmarks, before a backup)."""
        for timer in self._save_timers.values():
            timer.cancel()
        self._save_timers.clear()
        await asyncio.gather(*(self._run(s.save) for s in list(self._stores.values())))

    # ------------------------------------------------------------------ writes

    async def replace_document(
        self, business_id: str, document: DocumentRecord, chunks: Sequence[ChunkRecord]
    ) -> int:
        def work() -> int:
            store = self._store(business_id, create=True)
            assert store is not None
            return store.replace(document, chunks)

        removed = await self._run(work)
        self._schedule_save(business_id)
        return removed

    async def delete_document(self, business_id: str, document_id: str) -> bool:
        def work() -> bool:
            store = self._store(business_id, create=False)
            return store.delete(document_id) if store is not None else False

        deleted = await self._run(work)
        if deleted:
            self._schedule_save(business_id)
        return deleted

    # ------------------------------------------------------------------ reads

    async def get_document(self, business_id: str, document_id: str) -> DocumentRecord | None:
        def work() -> DocumentRecord | None:
            store = self._store(business_id, create=False)
            return store.get_document(document_id) if store is not None else None

        return await self._run(work)

    async def document_chunks(self, business_id: str, document_id: str) -> list[ScoredChunk]:
        def work() -> list[ScoredChunk]:
            store = self._store(business_id, create=False)
            return store.document_chunks(document_id) if store is not None else []

        return await self._run(work)

    async def list_documents(self, business_id: str) -> list[DocumentRecord]:
        def work() -> list[DocumentRecord]:
            store = self._store(business_id, create=False)
            return store.list_documents() if store is not None else []

        return await self._run(work)

    async def count_chunks(self, business_id: str) -> int:
        def work() -> int:
            store = self._store(business_id, create=False)
            return store.count_chunks() if store is not None else 0

        return await self._run(work)

    async def search(
        self,
        business_id: str,
        vector: Vector,
        text: str,
        top_k: int,
        document_ids: Sequence[str] | None = None,
    ) -> list[ScoredChunk]:
        as_vector(vector, self.dimensions)  # a wrong shape is an error even for no business

        def work() -> list[ScoredChunk]:
            store = self._store(business_id, create=False)
            if store is None:
                return []
            return store.search(vector, text, top_k, document_ids)

        return await self._run(work)
