"""Server-sent events: the framing, and a stream that ends when the client or the gateway
goes away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from fastapi.responses import StreamingResponse

#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_S = 15.0


def message(data: str, event: str | None = None, event_id: str | None = None) -> str:
    lines = [f"event: {event}"] if event else []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return "\n".join(lines) + "\n\n"


def response(frames: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        frames,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def from_queue(
    queue: asyncio.Queue[str | None], producer: asyncio.Task[None], serving: Callable[[], bool]
) -> AsyncIterator[str]:
    """Frames from ``queue`` until a None, the producer's end, or ``serving()`` turning
    false (the gateway drains); the producer is cancelled on the way out."""
    try:
        idle = 0.0
        while serving():
            try:
                frame = await asyncio.wait_for(queue.get(), timeout=1.0)
            except TimeoutError:
                if producer.done() and queue.empty():
                    return
                idle += 1.0
                if idle >= KEEPALIVE_S:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                continue
            if frame is None:
                return
            idle = 0.0
            yield frame
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer
