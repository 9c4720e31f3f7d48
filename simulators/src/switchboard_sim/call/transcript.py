"""Follow a call's transcript on NATS while it runs (``sb.transcript.>``, filtered by CallSid)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from switchboard_common.messages import CallEvent, ToolCallEvent, call_event_adapter
from switchboard_common.subjects import TRANSCRIPTS


def describe_event(event: CallEvent) -> str:
    """One printable line: ``agent: text`` or ``tool name(args) -> output``."""
    if isinstance(event, ToolCallEvent):
        status = "" if event.ok else " FAILED"
        return (
            f"tool {event.name}({event.arguments}) -> {event.output}{status} "
            f"({event.latency_ms:.0f} ms)"
        )
    suffix = " [interrupted]" if event.interrupted else ""
    return f"{event.speaker.value}: {event.text}{suffix}"


class TranscriptFollower:
    """Subscribes before the call is placed so no early event is missed."""

    def __init__(self, nats_url: str, on_event: Callable[[CallEvent], None]) -> None:
        self.nats_url = nats_url
        self.call_sid = ""
        self._on_event = on_event
        self._nc: Any = None
        self.errors: list[str] = []

    async def start(self) -> None:
        import nats  # deferred: only needed with --nats-url

        servers = [url for url in self.nats_url.split(",") if url]  # a cluster's nodes
        self._nc = await nats.connect(
            servers, connect_timeout=5, max_reconnect_attempts=2, allow_reconnect=True
        )
        await self._nc.subscribe(TRANSCRIPTS, cb=self._handle)

    async def _handle(self, msg: Any) -> None:
        try:
            event = call_event_adapter.validate_json(msg.data)
        except ValidationError as exc:
            self.errors.append(f"unreadable transcript message on {msg.subject}: {exc}")
            return
        if event.call_id == self.call_sid:
            self._on_event(event)

    async def stop(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):  # best effort: deliver what is in flight
                await self._nc.flush(timeout=1)
            await self._nc.close()
            self._nc = None
