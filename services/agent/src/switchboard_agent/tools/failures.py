"""How a tool fails, and what the model is told about it.

A tool's failure has two audiences. Logs, metrics and spans get the technical reason (the
:class:`FailureKind` and the exception). The model gets plain words it can act on and may read
aloud: what could not be done, and what to do instead. Never a subject name, an exception's
name or text, an error code, or the word for the transport.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from nats import errors as nats_errors


class FailureKind(StrEnum):
    """Why a tool call failed (a metric label: keep the set small and fixed)."""

    TIMEOUT = "timeout"  # the backend did not answer in time
    UNREACHABLE = "unreachable"  # nobody is serving the backend, or the bus is down
    BACKEND_ERROR = "backend_error"  # the backend answered that it is broken
    REFUSED = "refused"  # the backend answered that it cannot serve this request
    CIRCUIT_OPEN = "circuit_open"  # recent failures: not tried at all
    BAD_INPUT = "bad_input"  # the model's arguments were unusable
    UNKNOWN_TOOL = "unknown_tool"
    INTERNAL = "internal"  # anything else (a bug)

    @property
    def backend_at_fault(self) -> bool:
        """Counts towards opening the backend's circuit breaker."""
        return self in _BACKEND_FAULTS


_BACKEND_FAULTS = frozenset(
    {FailureKind.TIMEOUT, FailureKind.UNREACHABLE, FailureKind.BACKEND_ERROR, FailureKind.INTERNAL}
)


class ToolFailure(Exception):
    """Raised by a handler that knows why it failed. ``detail`` is for logs only."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class ToolInputError(ValueError):
    """The model's arguments cannot be used. The message is shown to the model, so write it
    in plain words (and do not quote the arguments: they may be what the caller said)."""


def classify_bus_error(exc: BaseException) -> FailureKind:
    """The kind of a request-reply failure on the bus."""
    if isinstance(exc, TimeoutError):  # nats' TimeoutError is an asyncio.TimeoutError
        return FailureKind.TIMEOUT
    if isinstance(
        exc,
        nats_errors.NoRespondersError
        | nats_errors.ConnectionClosedError
        | nats_errors.ConnectionDrainingError
        | nats_errors.ConnectionReconnectingError
        | nats_errors.StaleConnectionError
        | nats_errors.OutboundBufferLimitError
        | ConnectionError,
    ):
        return FailureKind.UNREACHABLE
    return FailureKind.INTERNAL


#: What the model is told when a tool without words of its own fails.
GENERIC_FAILURE = (
    "That could not be done just now. Tell the caller it is not possible at the moment and "
    "offer to take a message."
)


def told_to_model(kind: FailureKind, failure_words: str, detail: str = "") -> dict[str, Any]:
    """The tool result the model sees for a failure.

    ``failure_words`` is the tool's own sentence about what failed and what to do;
    ``detail`` is used only for :attr:`FailureKind.BAD_INPUT`, where it is a
    :class:`ToolInputError`'s plain message.
    """
    if kind is FailureKind.BAD_INPUT:
        reason = f" ({detail.rstrip('.')})" if detail else ""
        return {
            "status": "invalid",
            "error": f"The request could not be used{reason}. Ask the caller for what is "
            "missing, then try again.",
        }
    if kind is FailureKind.UNKNOWN_TOOL:
        return {"status": "invalid", "error": "There is no such tool; do not call it again."}
    return {"status": "unavailable", "error": failure_words or GENERIC_FAILURE}
