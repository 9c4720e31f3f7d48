"""Live calls, one call's page (its transcript following live), and call history."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from switchboard_common import events as ev
from switchboard_common.event_stream import EventStreamError, follow, read_call
from switchboard_common.ids import TOKEN_RE
from switchboard_common.messages import CallRecord

from ..routes.deps import Context
from . import sse
from .auth import Principal
from .deps import SignedIn, State, visible
from .history import call_history
from .live import LIVE_SNAPSHOT_S
from .view import fragment, page

log = logging.getLogger(__name__)
router = APIRouter()
#: How often the live list is looked at again.
LIVE_REFRESH_S = LIVE_SNAPSHOT_S
OUTCOMES = (
    "in progress",
    "caller_hung_up",
    "agent_hung_up",
    "transferred",
    "agent_lost",
    "realtime_lost",
    "media_timeout",
    "stream_error",
    "session_error",
    "gateway_shutdown",
    "agent_shutdown",
    "not_started",
    "stream_never_started",
)


async def _live(ctx: Context, state: State, principal: Principal) -> list[CallRecord]:
    return [r for r in await state.live.get(ctx.records) if principal.can_see(r.business_id)]


@router.get("/calls", response_class=HTMLResponse)
async def live_calls(
    request: Request, ctx: Context, state: State, principal: SignedIn
) -> HTMLResponse:
    return page(request, "calls.html", principal, calls=await _live(ctx, state, principal))


@router.get("/calls/stream", response_class=StreamingResponse)
async def live_calls_stream(ctx: Context, state: State, principal: SignedIn) -> StreamingResponse:
    """The live list's rows, as HTML, each time they change (and every second while calls
    run: their durations move)."""

    async def frames() -> AsyncIterator[str]:
        last: list[tuple[str, str, str | None]] | None = None
        while ctx.accepting:
            calls = await _live(ctx, state, principal)
            # Sent when a call comes, goes or changes hands; the page ticks durations itself.
            key = [(c.call_id, str(c.state), c.agent_id) for c in calls]
            if key != last:
                last = key
                yield sse.message(fragment("_call_rows.html", calls=calls), event="rows")
            await asyncio.sleep(LIVE_REFRESH_S)

    return sse.response(frames())


def _check_call_id(call_id: str) -> None:
    if not TOKEN_RE.fullmatch(call_id):
        raise HTTPException(404, "no such call")


async def _events(ctx: Context, call_id: str) -> list[ev.AnyCallEvent]:
    try:
        return await read_call(ctx.nc.jetstream(), call_id)
    except (EventStreamError, TimeoutError) as exc:
        raise HTTPException(503, "the call events cannot be read just now") from exc


def _ended(events: list[ev.AnyCallEvent]) -> ev.CallEndedEvent | None:
    ended = [e for e in events if isinstance(e, ev.CallEndedEvent)]
    return ended[-1] if ended else None


@router.get("/calls/{call_id}", response_class=HTMLResponse)
async def call_page(
    call_id: str, request: Request, ctx: Context, principal: SignedIn
) -> HTMLResponse:
    _check_call_id(call_id)
    events = await _events(ctx, call_id)
    record = await ctx.records.get(call_id)
    business = events[0].business_id if events else record.business_id if record else None
    if business is None:
        raise HTTPException(404, "no such call")
    visible(principal, business)
    started = next((e for e in events if isinstance(e, ev.CallStartedEvent)), None)
    return page(
        request,
        "call.html",
        principal,
        call_id=call_id,
        business_id=business,
        record=record,
        started=started,
        events=events,
        ended=_ended(events),
        origin=events[0].at if events else None,
    )


@router.get("/calls/{call_id}/stream", response_class=StreamingResponse)
async def call_stream(call_id: str, ctx: Context, principal: SignedIn) -> StreamingResponse:
    """The call's events from its first, then live until it ends, each as a rendered item
    (``event: entry``; the page skips the ``seq`` it already shows) and ``event: ended``."""
    _check_call_id(call_id)
    record = await ctx.records.get(call_id)
    events = [] if record is not None else await _events(ctx, call_id)
    if record is None and not events:
        raise HTTPException(404, "no such call")
    visible(principal, record.business_id if record else events[0].business_id)
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def produce() -> None:
        origin: datetime | None = None
        try:
            async with follow(ctx.nc.jetstream(), ev.call_events(call_id), from_start=True) as it:
                async for event in it:
                    origin = origin or event.at
                    item = fragment("_event.html", event=event, origin=origin)
                    await queue.put(sse.message(item, event="entry", event_id=str(event.seq)))
                    if isinstance(event, ev.CallEndedEvent):
                        summary = fragment("_ended.html", ended=event)
                        await queue.put(sse.message(summary, event="ended"))
                        break
        except EventStreamError as exc:
            log.warning("console: following call %s: %s", call_id, exc)
        await queue.put(None)

    producer = asyncio.create_task(produce(), name=f"console-follow-{call_id}")
    return sse.response(sse.from_queue(queue, producer, lambda: ctx.accepting))


Day = Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$")]


def _day(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


@router.get("/history", response_class=HTMLResponse)
async def history(
    request: Request,
    ctx: Context,
    principal: SignedIn,
    business: Annotated[str | None, Query(pattern=r"^([A-Za-z0-9_-]{1,64})?$")] = None,
    start: Day = None,
    end: Day = None,
    outcome: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    now = datetime.now(UTC)
    since = _day(start, now - timedelta(days=7))
    until = _day(end, now) + timedelta(days=1) if end else None
    business_id = principal.business_id or business or None
    try:
        calls = await call_history(ctx.nc.jetstream(), business_id, since, until, outcome)
    except (EventStreamError, TimeoutError) as exc:
        raise HTTPException(503, "the call events cannot be read just now") from exc
    businesses = (
        [s.profile.business_id for s in await ctx.businesses.list()] if principal.is_admin else []
    )
    return page(
        request,
        "history.html",
        principal,
        calls=calls,
        businesses=businesses,
        outcomes=OUTCOMES,
        filters={
            "business": business or "",
            "start": since.date().isoformat(),
            "end": end or "",
            "outcome": outcome or "",
        },
    )
