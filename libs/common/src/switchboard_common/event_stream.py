"""The durable stream of call events: create it, publish into it, replay and tail it.

* :func:`ensure_stream` creates or updates the JetStream stream :data:`~.events.STREAM_NAME`
  over ``sb.events.>`` (file storage, a maximum age = the retention, a duplicate window).
* :class:`CallEventPublisher` is one call's publisher. It numbers the call's events (``seq`` 1,
  2, 3…) and publishes them one after another, each awaiting JetStream's acknowledgement before
  the next, with a ``Nats-Msg-Id`` of ``<call_id>:<seq>`` so a retried publish is stored once.
  Recording an event never blocks the caller and never raises: publishing happens in the
  publisher's own task, failures are retried and then logged (and leave a gap in ``seq``).
* :func:`read_call` replays one call from the stream; :func:`follow` tails it live.

This module is the stream's public face: import from here. The code lives in
:mod:`.event_stream_setup` (the stream and its settings), :mod:`.event_publisher` (one call's
publisher) and :mod:`.event_readers` (replay, tailing, helpers such as :func:`by_type`).
"""

from __future__ import annotations

from .event_publisher import CallEventPublisher, end_story
from .event_readers import RESYNC_CHECK_S, EventFollower, by_type, follow, last_seq, read_call
from .event_stream_setup import (
    DEFAULT_DUPLICATE_WINDOW_S,
    DEFAULT_RETENTION_S,
    EventStreamError,
    EventStreamSettings,
    ensure_stream,
)

__all__ = [
    "DEFAULT_DUPLICATE_WINDOW_S",
    "DEFAULT_RETENTION_S",
    "RESYNC_CHECK_S",
    "CallEventPublisher",
    "EventFollower",
    "EventStreamError",
    "EventStreamSettings",
    "by_type",
    "end_story",
    "ensure_stream",
    "follow",
    "last_seq",
    "read_call",
]
