"""``events``: read the durable call-event stream from a terminal.

* ``events tail [--business B] [--call C] [--from-start] [--count N] [--json]``: one line per
  event as it is stored (Ctrl-C stops).
* ``events show CALL_ID [--json]``: replay one call's events.

Exit status: 0 ok, 1 no events for the call, 2 a malformed id, 3 the bus or stream is
unavailable, 130 interrupted.

The bus is ``--nats-url``, or ``NATS_URL`` (and ``NATS_USER``/``NATS_PASSWORD``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from typing import Any, TextIO

import nats
import nats.errors
from nats.aio.client import Client

from ..bus import client_inbox_prefix, on_reconnect, run_reconnect_hooks
from ..event_stream import EventStreamError, follow, read_call
from ..events import AnyCallEvent, describe, events_filter
from ..ids import check_token
from ..settings import NatsSettings

#: Exit statuses.
OK, NOT_FOUND, USAGE, UNAVAILABLE, INTERRUPTED = 0, 1, 2, 3, 130
#: Connection attempts (one second apart) before the command gives up on the bus.
RECONNECT_ATTEMPTS = 3


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``events`` command group on an ``argparse`` subparsers object. Every leaf
    parser gets ``handler`` (``run``: ``Namespace -> int``) as a default."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "events",
        help="read the durable stream of call events",
        description="Read the durable stream of call events (docs/events.md).",
    )
    parser.add_argument("--nats-url", help="NATS server URL(s) (default: $NATS_URL)")
    commands = parser.add_subparsers(dest="events_command", metavar="COMMAND", required=True)

    tail = commands.add_parser("tail", help="print events live, one line each")
    tail.add_argument("--business", help="only this business's calls")
    tail.add_argument("--call", help="only this call")
    tail.add_argument(
        "--from-start", action="store_true", help="replay what the stream holds first"
    )
    tail.add_argument("--count", type=int, default=0, help="stop after N events (0 = never)")
    tail.add_argument("--json", action="store_true", help="print each event as JSON")
    tail.set_defaults(handler=run)

    show = commands.add_parser("show", help="replay one call's events")
    show.add_argument("call_id", metavar="CALL_ID")
    show.add_argument("--json", action="store_true", help="print each event as JSON")
    show.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    show.set_defaults(handler=run)
    return parser


def _line(event: AnyCallEvent, as_json: bool) -> str:
    return event.model_dump_json() if as_json else describe(event)


async def _connect(args: argparse.Namespace) -> Client:
    """A connection that gives up (rather than retrying forever, as a service does) when the
    bus cannot be reached for a few seconds."""
    settings = NatsSettings() if not args.nats_url else NatsSettings(url=args.nats_url)
    password = settings.password.get_secret_value() if settings.password else None
    nc = Client()

    async def reconnected() -> None:  # a tail resumes from the last event it printed
        run_reconnect_hooks(nc)

    await nc.connect(
        servers=settings.servers,
        name="switchboard-cli-events",
        user=settings.user,
        password=password,
        inbox_prefix=client_inbox_prefix(settings),
        connect_timeout=math.ceil(settings.connect_timeout_s),  # nats-py takes whole seconds
        max_reconnect_attempts=RECONNECT_ATTEMPTS,
        reconnect_time_wait=1,
        error_cb=_quiet,
        reconnected_cb=reconnected,
    )
    return nc


async def _quiet(exc: Exception) -> None:
    """The final failure is reported once, not every attempt with a traceback."""


async def tail(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    subject = events_filter(args.business, args.call)
    nc = await _connect(args)
    try:
        async with follow(nc.jetstream(), subject, from_start=args.from_start) as events:
            on_reconnect(nc, events.resync)
            seen = 0
            async for event in events:
                print(_line(event, args.json), file=out, flush=True)
                seen += 1
                if args.count and seen >= args.count:
                    break
    except EventStreamError as exc:
        print(f"events: {exc}", file=sys.stderr)
        return UNAVAILABLE
    finally:
        await nc.close()
    return OK


async def show(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    check_token(args.call_id, "call id")
    nc = await _connect(args)
    try:
        events = await read_call(nc.jetstream(), args.call_id, timeout_s=args.timeout)
    except (EventStreamError, TimeoutError) as exc:
        print(f"events: {exc or 'timed out'}", file=sys.stderr)
        return UNAVAILABLE
    finally:
        await nc.close()
    if not events:
        print(f"events: no events for call {args.call_id}", file=sys.stderr)
        return NOT_FOUND
    for event in events:
        print(_line(event, args.json), file=out)
    return OK


def run(args: argparse.Namespace) -> int:
    """The handler for every ``events`` command."""
    command = tail if args.events_command == "tail" else show
    try:
        return asyncio.run(command(args))
    except ValueError as exc:  # a malformed business or call id
        print(f"events: {exc}", file=sys.stderr)
        return USAGE
    except (OSError, nats.errors.Error) as exc:  # the bus cannot be reached
        print(f"events: cannot reach NATS: {exc!r}", file=sys.stderr)
        return UNAVAILABLE
    except KeyboardInterrupt:
        return INTERRUPTED
