"""The knowledge service on the bus: a ``nats.micro`` service, discoverable with ``$SRV.PING``,
``$SRV.INFO`` and ``$SRV.STATS`` like any NATS service.

Requests are handled concurrently (a task each, bounded by a semaphore) — micro's own handler
runs one request at a time per subscription. Every failure is a protocol answer with the
``Nats-Service-Error`` / ``Nats-Service-Error-Code`` headers, never a silent timeout.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import BaseModel, ValidationError

from switchboard_common import logs, subjects, tracing
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

from . import metrics
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
                name=name, subject=subject, handler=self._concurrently(name, handler)
            )

    async def stop(self) -> None:
        if self._micro is not None:
            await self._micro.stop()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    def _concurrently(
        self, endpoint: str, handler: Callable[[Request], Awaitable[None]]
    ) -> Callable[[Request], Awaitable[None]]:
        async def spawn(request: Request) -> None:
            task = asyncio.create_task(self._traced(endpoint, handler, request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return spawn

    async def _traced(
        self, endpoint: str, handler: Callable[[Request], Awaitable[None]], request: Request
    ) -> None:
        """One request, in its own task: tagged with the caller's call (``Sb-Call-Id``), a
        child span of the requester's (``traceparent``), timed by endpoint and outcome."""
        logs.bind_call(tracing.call_id_of(request))
        started = time.perf_counter()
        with tracing.tracer().start_as_current_span(
            f"knowledge.{endpoint}",
            context=tracing.extract_context(request),
            kind=SpanKind.SERVER,
        ) as span:
            if self._slots.locked():
                metrics.REQUESTS_WAITING.labels(endpoint).inc()
            outcome = await self._guarded(handler, request)
            span.set_attribute("knowledge.outcome", outcome)
            if outcome != "ok":
                span.set_status(Status(StatusCode.ERROR, outcome))
        metrics.REQUEST_SECONDS.labels(endpoint, outcome).observe(time.perf_counter() - started)

    async def _guarded(
        self, handler: Callable[[Request], Awaitable[None]], request: Request
    ) -> str:
        """Run the handler; every failure becomes an error answer. Returns the outcome."""
        async with self._slots:
            try:
                await handler(request)
            except ValidationError as exc:
                await _error(request, KnowledgeErrorCode.BAD_REQUEST, _first_error(exc))
                return KnowledgeErrorCode.BAD_REQUEST.value
            except KnowledgeError as exc:
                await _error(request, exc.code, str(exc))
                return exc.code.value
            except Exception as exc:
                log.exception("knowledge request failed")
                await _error(request, KnowledgeErrorCode.INTERNAL, f"internal error: {exc}")
                return KnowledgeErrorCode.INTERNAL.value
        return "ok"

    async def _query(self, request: Request) -> None:
        query = KnowledgeQuery.model_validate_json(request.data)
        _tag(query.business_id)
        await _reply(request, await self._service.query(query))

    async def _ingest(self, request: Request) -> None:
        ingest = IngestRequest.model_validate_json(request.data)
        _tag(ingest.business_id)
        if ingest.text is not None:
            data = ingest.text.encode()
        else:
            try:
                data = base64.b64decode(ingest.data_b64 or "", validate=True)
            except ValueError:  # binascii.Error, or a str that is not ASCII
                await _error(request, KnowledgeErrorCode.BAD_REQUEST, "data_b64 is not base64")
                return
        reply = await self._service.ingest(
            ingest.business_id, ingest.source, ingest.content_type, data, ingest.document_id
        )
        await _reply(request, reply)

    async def _delete(self, request: Request) -> None:
        delete = DeleteRequest.model_validate_json(request.data)
        _tag(delete.business_id)
        deleted = await self._service.delete(delete.business_id, delete.document_id)
        await _reply(request, DeleteReply(deleted=deleted))

    async def _list(self, request: Request) -> None:
        listing = ListRequest.model_validate_json(request.data)
        _tag(listing.business_id)
        await _reply(
            request, ListReply(documents=await self._service.documents(listing.business_id))
        )


def _tag(business_id: str) -> None:
    """The request's business, on its log lines and its span."""
    logs.BUSINESS_ID.set(business_id)
    trace.get_current_span().set_attribute("business.id", business_id)


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
