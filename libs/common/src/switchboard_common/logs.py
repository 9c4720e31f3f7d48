"""Logging the same way in every service: one line per record, JSON by default, tagged with the
service and the call it belongs to, and without secrets or what callers said.

* ``LOG_FORMAT``: ``json`` or ``text``. Unset, it is ``text`` when stderr is a terminal (a
  person is reading) and ``json`` otherwise (a log collector is).
* ``LOG_LEVEL``: a level name, ``INFO`` by default.
* ``LOG_TRANSCRIPTS``: ``true`` lets caller and agent text (wrapped in :func:`private`) into
  the logs; by default only its length is logged.

Logs go to stderr. Stdout is kept for the ``NAME=value`` readiness lines that
``switchboard_sim.stack`` waits for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Literal

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["json", "text"]

#: The call (and its business) the current task works for; set where a call's work starts.
CALL_ID: ContextVar[str | None] = ContextVar("switchboard_call_id", default=None)
BUSINESS_ID: ContextVar[str | None] = ContextVar("switchboard_business_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(service)s %(name)s [%(call_id)s] %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(message)s"

_service = "unknown"
_handler: logging.Handler | None = None


def service_name() -> str:
    """The name given to :func:`configure_logging` (``unknown`` before)."""
    return _service


def transcripts_enabled() -> bool:
    return os.environ.get("LOG_TRANSCRIPTS", "").strip().lower() in ("1", "true", "yes")


class Private:
    """Text a caller said or could have influenced (transcripts, tool arguments, validation
    errors echoing a payload). It prints as its length unless ``LOG_TRANSCRIPTS`` is true;
    the check happens only if the record is actually formatted."""

    __slots__ = ("text",)

    def __init__(self, text: object) -> None:
        self.text = str(text)

    def __str__(self) -> str:
        if transcripts_enabled():
            return self.text
        return f"<{len(self.text)} chars redacted>"

    __repr__ = __str__


def private(text: object) -> Private:
    return Private(text)


@contextlib.contextmanager
def call_scope(call_id: str | None, business_id: str | None = None) -> Iterator[None]:
    """Tag every record logged inside the block (and in tasks created inside it) with the
    call. Tasks copy the context when they are created, so subscriptions made here carry it."""
    call_token = CALL_ID.set(call_id)
    business_token = BUSINESS_ID.set(business_id)
    try:
        yield
    finally:
        BUSINESS_ID.reset(business_token)
        CALL_ID.reset(call_token)


def bind_call(call_id: str | None, business_id: str | None = None) -> None:
    """Like :func:`call_scope` for the rest of the current task (a per-call task or request)."""
    CALL_ID.set(call_id)
    if business_id is not None:
        BUSINESS_ID.set(business_id)


class ContextFilter(logging.Filter):
    """Adds ``service``, ``call_id``, ``business_id`` and the current trace and span ids.
    ``unknown`` stands for an id outside any call (``-`` in text, null in JSON)."""

    def __init__(self, unknown: str | None = None) -> None:
        super().__init__()
        self._unknown = unknown

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = _service
        record.call_id = CALL_ID.get() or self._unknown
        record.business_id = BUSINESS_ID.get() or self._unknown
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        return True


#: Credentials that must never reach a log line, whatever put them in a message.
_SECRETS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),  # OpenAI-style API keys
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]+"),
    re.compile(r"(?i)\b(password|passwd|token|secret|api[_-]?key|auth[_-]?token)=[^\s&,;]+"),
    re.compile(r"(?i)(nats|https?|wss?)://[^\s:/@]+:[^\s@/]+@"),  # credentials in URLs
)


def redact(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(_mask, text)
    return text


def _mask(match: re.Match[str]) -> str:
    whole = match.group(0)
    if whole.lower().startswith("sk-"):
        return "sk-***"
    if "://" in whole:
        return whole.split("://", 1)[0] + "://***@"
    if "=" in whole:
        return whole.split("=", 1)[0] + "=***"
    return whole.split()[0] + " ***"


class RedactionFilter(logging.Filter):
    """Masks API keys, bearer tokens, ``password=`` style pairs and URL credentials in the
    final message (arguments included), so a careless ``%s`` of a config cannot leak one."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def _format_from_env() -> LogFormat:
    chosen = os.environ.get("LOG_FORMAT", "").strip().lower()
    if chosen in ("json", "text"):
        return chosen  # type: ignore[return-value]
    return "text" if sys.stderr.isatty() else "json"


def _json_formatter() -> logging.Formatter:
    """``time`` is ISO 8601 in UTC, what log collectors parse without configuration."""
    return JsonFormatter(
        JSON_FIELDS, rename_fields={"levelname": "level", "name": "logger"}, timestamp="time"
    )


def make_handler(fmt: LogFormat, stream: Any = None) -> logging.Handler:
    """A handler writing ``fmt`` with the context and redaction filters (stderr by default)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(_json_formatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter(None if fmt == "json" else "-"))
    handler.addFilter(RedactionFilter())
    return handler


def configure_logging(service: str, fmt: LogFormat | None = None, level: str | None = None) -> None:
    """Called once by every service's ``__main__``; replaces whatever handler it installed
    before, so calling it again (tests) does not duplicate lines."""
    global _service, _handler
    _service = service
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = make_handler(fmt or _format_from_env())
    root.addHandler(_handler)
    root.setLevel((level or os.environ.get("LOG_LEVEL") or "INFO").upper())


def is_configured() -> bool:
    return _handler is not None
