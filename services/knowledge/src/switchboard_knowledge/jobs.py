"""Ingestion jobs for large uploads: started in the background, polled over HTTP."""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import KnowledgeError

JobState = Literal["running", "done", "failed"]
#: Finished jobs remembered for polling.
KEEP_JOBS = 500


@dataclass
class Job:
    id: str
    business_id: str
    source: str
    state: JobState = "running"
    done_chunks: int = 0
    total_chunks: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    error_status: int | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def progress(self, done: int, total: int) -> None:
        self.done_chunks, self.total_chunks = done, total

    def view(self) -> dict[str, Any]:
        return {
            "job_id": self.id,
            "business_id": self.business_id,
            "source": self.source,
            "state": self.state,
            "progress": {"chunks_embedded": self.done_chunks, "chunks_total": self.total_chunks},
            "result": self.result,
            "error": self.error,
        }


class JobStore:
    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def start(
        self,
        business_id: str,
        source: str,
        work: Callable[[Job], Awaitable[dict[str, Any]]],
    ) -> Job:
        job = Job(id=secrets.token_hex(8), business_id=business_id, source=source)
        self._jobs[job.id] = job
        while len(self._jobs) > KEEP_JOBS:
            self._jobs.popitem(last=False)

        async def run() -> None:
            try:
                job.result = await work(job)
                job.state = "done"
            except KnowledgeError as exc:
                job.state, job.error, job.error_status = "failed", str(exc), exc.http_status
            except Exception as exc:
                job.state, job.error, job.error_status = "failed", f"internal error: {exc}", 500

        job._task = asyncio.create_task(run())
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def wait_all(self, timeout_s: float) -> None:
        tasks = [j._task for j in self._jobs.values() if j._task and not j._task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
