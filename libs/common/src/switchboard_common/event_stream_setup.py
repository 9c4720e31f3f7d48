"""Creating the durable event stream, and the settings every process must agree on.

:func:`ensure_stream` creates or updates the JetStream stream :data:`~.events.STREAM_NAME` over
``sb.events.>`` (file storage, a maximum age = the retention, a duplicate window). It lives
apart from the publisher and the readers because only a service's start-up runs it, while
:class:`EventStreamError` and the defaults are shared by everything that touches the stream.
"""

from __future__ import annotations

import dataclasses
import logging

from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)
from nats.js.errors import APIError, NotFoundError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .events import STREAM_NAME, STREAM_SUBJECT

# Named as before the stream's code was split out of event_stream.py, so log filters still match.
log = logging.getLogger("switchboard_common.event_stream")

#: Default retention: 30 days.
DEFAULT_RETENTION_S = 30 * 24 * 3600.0
#: Default de-duplication window (JetStream's own default).
DEFAULT_DUPLICATE_WINDOW_S = 120.0


class EventStreamSettings(BaseSettings):
    """The stream's settings. Env: ``EVENTS_RETENTION_S``, ``EVENTS_REPLICAS``,
    ``EVENTS_DUPLICATE_WINDOW_S``. Every process that calls :func:`ensure_stream` must use the
    same values, or they will keep rewriting the stream's limits."""

    model_config = SettingsConfigDict(env_prefix="EVENTS_", extra="ignore")

    retention_s: float = Field(DEFAULT_RETENTION_S, gt=0, description="How long events are kept.")
    replicas: int = Field(1, ge=1, le=5, description="Stream replicas (1 on a single server).")
    duplicate_window_s: float = Field(
        DEFAULT_DUPLICATE_WINDOW_S, gt=0, description="How long a Nats-Msg-Id is remembered."
    )


class EventStreamError(RuntimeError):
    """The event stream cannot be used (missing, misconfigured, or JetStream unavailable)."""


def _stream_config(
    base: StreamConfig, retention_s: float, replicas: int, duplicate_window_s: float
) -> StreamConfig:
    return dataclasses.replace(
        base,
        name=STREAM_NAME,
        description="Switchboard: every event of every call (docs/events.md)",
        subjects=[STREAM_SUBJECT],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=retention_s,
        # The window must not outlast the messages it protects.
        duplicate_window=min(duplicate_window_s, retention_s),
        num_replicas=replicas,
    )


def _same_ns(a: float | None, b: float | None) -> bool:
    return round((a or 0) * 1e9) == round((b or 0) * 1e9)


def _needs_update(have: StreamConfig, want: StreamConfig) -> bool:
    return (
        list(have.subjects or []) != list(want.subjects or [])
        or not _same_ns(have.max_age, want.max_age)
        or not _same_ns(have.duplicate_window, want.duplicate_window)
        or (have.num_replicas or 1) != (want.num_replicas or 1)
        or have.discard != want.discard
    )


async def ensure_stream(
    js: JetStreamContext,
    retention_s: float,
    replicas: int = 1,
    duplicate_window_s: float = DEFAULT_DUPLICATE_WINDOW_S,
) -> StreamInfo:
    """Create the event stream, or bring an existing one to these limits. Idempotent: a stream
    that already matches is left alone. Settings we do not manage (e.g. ``max_bytes`` set by an
    operator) are kept on update."""
    if retention_s <= 0:
        raise ValueError("retention_s must be positive")
    try:
        info = await js.stream_info(STREAM_NAME)
    except NotFoundError:
        want = _stream_config(StreamConfig(), retention_s, replicas, duplicate_window_s)
        try:
            created = await js.add_stream(want)
            log.info("created stream %s (retention %.0f s)", STREAM_NAME, retention_s)
            return created
        except APIError as exc:  # created by another process meanwhile: check it below
            log.debug("add_stream %s: %s", STREAM_NAME, exc)
            info = await js.stream_info(STREAM_NAME)
    have = info.config
    if have.storage is not None and have.storage != StorageType.FILE:
        raise EventStreamError(
            f"stream {STREAM_NAME} exists with {have.storage} storage; it must be file storage "
            "(storage cannot be changed in place: delete the stream or migrate it)"
        )
    want = _stream_config(have, retention_s, replicas, duplicate_window_s)
    if not _needs_update(have, want):
        return info
    updated = await js.update_stream(want)
    log.info("updated stream %s (retention %.0f s)", STREAM_NAME, retention_s)
    return updated
