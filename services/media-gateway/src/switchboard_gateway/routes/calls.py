"""A call's history over HTTP, replayed from the durable event stream (docs/events.md).

``make_calls_router(js_provider, token_provider)`` builds the router; the app includes it.
Both endpoints need ``Authorization: Bearer <token>``, where the token is whatever
``token_provider()`` returns at request time (an empty token disables the endpoints: 503).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from nats.js import JetStreamContext
from pydantic import BaseModel

from switchboard_common.event_stream import EventStreamError, read_call
from switchboard_common.events import AnyCallEvent, TranscriptEntry, transcript_entries
from switchboard_common.http_api import problems
from switchboard_common.ids import TOKEN_RE

log = logging.getLogger(__name__)

#: Bound on one replay from the stream.
READ_TIMEOUT_S = 5.0

# Module level: FastAPI resolves these (string) annotations in the module's namespace.
_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
TranscriptFormat = Annotated[Literal["json", "text"], Query()]


class CallEventsResponse(BaseModel):
    call_id: str
    business_id: str
    events: list[AnyCallEvent]


class TranscriptResponse(BaseModel):
    call_id: str
    business_id: str
    lines: list[str]
    entries: list[TranscriptEntry]


def make_calls_router(
    js_provider: Callable[[], JetStreamContext],
    token_provider: Callable[[], str],
    read_timeout_s: float = READ_TIMEOUT_S,
) -> APIRouter:
    """``GET /calls/{call_id}/events`` and ``GET /calls/{call_id}/transcript``."""

    def require_token(credentials: Credentials) -> None:
        expected = token_provider()
        if not expected:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no API token configured")
        given = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    router = APIRouter(
        prefix="/calls",
        tags=["calls"],
        dependencies=[Depends(require_token)],
        responses=problems(
            401, 404, 503, 504, s503="The event stream is unavailable, or no API token is set"
        ),
    )

    async def events_of(call_id: str) -> list[AnyCallEvent]:
        if not TOKEN_RE.fullmatch(call_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such call")
        try:
            events = await read_call(js_provider(), call_id, timeout_s=read_timeout_s)
        except TimeoutError as exc:
            raise HTTPException(
                status.HTTP_504_GATEWAY_TIMEOUT, "the event stream did not answer in time"
            ) from exc
        except EventStreamError as exc:
            log.warning("call %s: events unavailable: %s", call_id, exc)
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "the event stream is unavailable"
            ) from exc
        if not events:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such call")
        return events

    @router.get(
        "/{call_id}/events",
        summary="Every event of a call, in order",
        response_model=CallEventsResponse,
    )
    async def call_events(call_id: str) -> CallEventsResponse:
        events = await events_of(call_id)
        return CallEventsResponse(call_id=call_id, business_id=events[0].business_id, events=events)

    @router.get(
        "/{call_id}/transcript",
        summary="A call's conversation: caller and agent turns and tool calls",
        response_model=TranscriptResponse,
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def call_transcript(
        call_id: str,
        format: TranscriptFormat = "json",
    ) -> TranscriptResponse | PlainTextResponse:
        events = await events_of(call_id)
        entries = transcript_entries(events)
        lines = [entry.line for entry in entries]
        if format == "text":
            return PlainTextResponse("".join(f"{line}\n" for line in lines))
        return TranscriptResponse(
            call_id=call_id, business_id=events[0].business_id, lines=lines, entries=entries
        )

    return router
