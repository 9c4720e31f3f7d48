"""One call at the top of a service's ``main()``: logs and traces configured from the
environment (see :mod:`switchboard_common.logs` and :mod:`switchboard_common.tracing`)."""

from __future__ import annotations

from .logs import configure_logging
from .tracing import setup_tracing


def init_telemetry(service: str) -> None:
    configure_logging(service)
    setup_tracing(service)
