"""Call history for the console, read from the durable call events (docs/events.md).

A call's row comes from its ``call_started`` and ``call_ended`` events, read with two ordered
consumers filtered on those types (``sb.events.<business|*>.*.<type>``) from the start of
the period asked for: the rest of a call's events are read only when it is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from switchboard_common import events as ev
from switchboard_common.event_stream import EventStreamError

#: Bound on one history read.
READ_TIMEOUT_S = 5.0
#: Most events of one type read per query (the newest are kept).
MAX_READ = 5000


@dataclass
class CallSummary:
    call_id: str
    business_id: str
    started_at: datetime
    from_number: str = ""
    agent_id: str = ""
    ended: ev.CallEndedEvent | None = None

    @property
    def outcome(self) -> str:
        if self.ended is None:
            return "in progress"
        return self.ended.reason or "ended"


async def read_matching(
    js: JetStreamContext, subject: str, since: datetime, timeout_s: float = READ_TIMEOUT_S
) -> list[ev.AnyCallEvent]:
    """Every event on ``subject`` stored since ``since``, oldest first (at most ``MAX_READ``,
    the newest kept)."""
    found: list[ev.AnyCallEvent] = []
    sub: JetStreamContext.PushSubscription | None = None
    try:
        async with asyncio.timeout(timeout_s):
            sub = await js.subscribe(
                subject,
                stream=ev.STREAM_NAME,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.BY_START_TIME,
                config=ConsumerConfig(opt_start_time=since),
            )
            info = await sub.consumer_info()
            delivered = info.delivered.consumer_seq if info.delivered else 0
            if not info.num_pending and not delivered:
                return []
            while True:
                msg = await sub.next_msg(timeout=None)
                event = ev.parse_event(msg.data)
                if event is not None:
                    found.append(event)
                    if len(found) > MAX_READ:
                        del found[0]
                if msg.metadata.num_pending == 0:
                    return found
    except NotFoundError as exc:
        raise EventStreamError(f"stream {ev.STREAM_NAME} not found") from exc
    except nats.errors.Error as exc:
        if isinstance(exc, TimeoutError):
            raise
        raise EventStreamError(f"reading {subject}: {exc!r}") from exc
    finally:
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


async def call_history(
    js: JetStreamContext,
    business_id: str | None,
    since: datetime,
    until: datetime | None = None,
    outcome: str | None = None,
) -> list[CallSummary]:
    """Calls started in [since, until), newest first, optionally of one business and with
    one outcome (a ``call_ended`` reason, or ``in progress``)."""
    business = business_id or "*"
    started = await read_matching(js, f"sb.events.{business}.*.call_started", since)
    ended = await read_matching(js, f"sb.events.{business}.*.call_ended", since)
    calls: dict[str, CallSummary] = {}
    for event in started:
        if isinstance(event, ev.CallStartedEvent):
            calls[event.call_id] = CallSummary(
                event.call_id, event.business_id, event.at, event.from_number, event.agent_id
            )
    for event in ended:
        if isinstance(event, ev.CallEndedEvent):
            summary = calls.get(event.call_id)
            if summary is None:  # no call_started read: it began before `since`, or never did
                began = event.at - timedelta(seconds=event.duration_s)
                summary = calls[event.call_id] = CallSummary(
                    event.call_id, event.business_id, began
                )
            summary.ended = event
    rows = [
        c
        for c in calls.values()
        # The server's start time is a lower bound only (it may deliver the last message of a
        # stream when asked for a time past it): the period is checked here too.
        if since <= c.started_at
        and (until is None or c.started_at < until)
        and (not outcome or c.outcome == outcome)
    ]
    return sorted(rows, key=lambda c: c.started_at, reverse=True)


async def errors_since(js: JetStreamContext, since: datetime) -> list[ev.AnyCallEvent]:
    """What went wrong since ``since``: calls that ended badly and tools that failed."""
    good = {"caller_hung_up", "agent_hung_up", "transferred", ""}
    ended = await read_matching(js, "sb.events.*.*.call_ended", since)
    tools = await read_matching(js, "sb.events.*.*.tool_called", since)
    bad: list[ev.AnyCallEvent] = [
        e for e in ended if isinstance(e, ev.CallEndedEvent) and e.reason not in good
    ]
    bad += [e for e in tools if isinstance(e, ev.ToolCalledEvent) and not e.ok]
    return sorted((e for e in bad if e.at >= since), key=lambda e: e.at, reverse=True)
