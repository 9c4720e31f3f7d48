"""The knowledge service on the bus: a ``nats.micro`` service, discoverable with ``$SRV.PING``,
``$SRV.INFO`` and ``$SRV.STATS`` like any NATS service.

Requests are handled concurrently (a task each, bounded by a semaphore) — micro's own handler
runs one request at a time per subscription. Every failure is a protocol answer with the
``Nats-Service-Error`` / ``Nats-Service-Error-Code`` headers, never a silent timeout.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service
from pydantic import BaseModel, ValidationError

from switchboard_common import subjects
from switchboard_common.knowledge import (
    QUEUE_GROUP,
    SERVICE_NAME,
    SERVICE_VERSION,
    DeleteReply,
    DeleteRequest,
    IngestRequest,
    KnowledgeErrorCode,
    KnowledgeQuery,
    ListReply,
    ListRequest,
)
from switchboard_common.messages import BusMessage

from .errors import KnowledgeError
from .service import KnowledgeService

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class KnowledgeBus:
    def __init__(self, nc: Client, service: KnowledgeService, max_concurrent: int) -> None:
        self._nc = nc
        self._service = service
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: set[asyncio.Task[None]] = set()
        self._micro: Service | None = None

    async def start(self) -> None:
        self._micro = await add_service(
            self._nc,
            name=SERVICE_NAME,
            version=SERVICE_VERSION,
            description="Each business's knowledge, searched by meaning.",
            queue_group=QUEUE_GROUP,
        )
        routes: list[tuple[str, str, Callable[[Request], Awaitable[None]]]] = [
            ("query", subjects.KNOWLEDGE_QUERY, self._query),
            ("ingest", subjects.KNOWLEDGE_INGEST, self._ingest),
            ("delete", subjects.KNOWLEDGE_DELETE, self._delete),
            ("list", subjects.KNOWLEDGE_LIST, self._list),
        ]
        for name, subject, handler in routes:
            await self._micro.add_endpoint(
                name=name, subject=subject, handler=self._concurrently(handler)
            )

    async def stop(self) -> None:
        if self._micro is not None:
            await self._micro.stop()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    def _concurrently(
        self, handler: Callable[[Request], Awaitable[None]]
    ) -> Callable[[Request], Awaitable[None]]:
        async def spawn(request: Request) -> None:
            task = asyncio.create_task(self._guarded(handler, request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return spawn

    async def _guarded(
        self, handler: Callable[[Request], Awaitable[None]], request: Request
    ) -> None:
        async with self._slots:
            try:
                await handler(request)
            except ValidationError as exc:
                await _error(request, KnowledgeErrorCode.BAD_REQUEST, _first_error(exc))
            except KnowledgeError as exc:
                await _error(request, exc.code, str(exc))
            except Exception as exc:
                log.exception("knowledge request failed")
                await _error(request, KnowledgeErrorCode.INTERNAL, f"internal error: {exc}")

    async def _query(self, request: Request) -> None:
        query = KnowledgeQuery.model_validate_json(request.data)
        await _reply(request, await self._service.query(query))

    async def _ingest(self, request: Request) -> None:
        ingest = IngestRequest.model_validate_json(request.data)
        if ingest.text is not None:
            data = ingest.text.encode()
        else:
            try:
                data = base64.b64decode(ingest.data_b64 or "", validate=True)
            except binascii.Error:
                await _error(request, KnowledgeErrorCode.BAD_REQUEST, "data_b64 is not base64")
                return
        reply = await self._service.ingest(
            ingest.business_id, ingest.source, ingest.content_type, data, ingest.document_id
        )
        await _reply(request, reply)

    async def _delete(self, request: Request) -> None:
        delete = DeleteRequest.model_validate_json(request.data)
        deleted = await self._service.delete(delete.business_id, delete.document_id)
        await _reply(request, DeleteReply(deleted=deleted))

    async def _list(self, request: Request) -> None:
        listing = ListRequest.model_validate_json(request.data)
        await _reply(
            request, ListReply(documents=await self._service.documents(listing.business_id))
        )


async def _reply(request: Request, message: BusMessage) -> None:
    await request.respond(message.to_bytes())


async def _error(request: Request, code: KnowledgeErrorCode, description: str) -> None:
    try:
        await request.respond_error(code.value, description[:500])
    except Exception as exc:  # the requester is gone; nothing to tell
        log.debug("error reply not sent: %s", exc)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "request"
    return f"invalid request: {where}: {first.get('msg', 'invalid')}"
