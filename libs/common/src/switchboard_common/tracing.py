"""OpenTelemetry traces: one call is one trace across gateway, agent and knowledge service.

The W3C ``traceparent`` travels in NATS headers on control messages and requests only, never
on audio frames (those stay header-free on the hot path).

``setup_tracing(service)`` picks the exporter from the environment:

* ``OTEL_TRACES_EXPORTER``: ``otlp``, ``console`` or ``none``. Unset, it is ``otlp`` when
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set and
  ``none`` otherwise.
* With ``none`` spans are still created (so ids reach the logs and the next service) but
  nothing is exported: no batch thread, no network.
* The OTLP/HTTP exporter reads the standard ``OTEL_EXPORTER_OTLP_*`` variables itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from . import logs

TRACER_NAME = "switchboard"
#: NATS header naming the call a request serves, so the receiver can tag its logs.
CALL_ID_HEADER = "Sb-Call-Id"

_provider: TracerProvider | None = None


def exporter_from_env() -> SpanExporter | None:
    chosen = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not chosen:
        has_endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        )
        chosen = "otlp" if has_endpoint else "none"
    if chosen == "none":
        return None
    if chosen == "console":
        return ConsoleSpanExporter()
    if chosen == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER={chosen!r}: expected otlp, console or none")


def setup_tracing(
    service: str, exporter: SpanExporter | None = None, batch: bool = True
) -> TracerProvider:
    """Install the SDK tracer provider for this process (once; later calls add the exporter
    to the same provider, which is how tests attach an in-memory one)."""
    global _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
        trace.set_tracer_provider(_provider)
    chosen = exporter if exporter is not None else exporter_from_env()
    if chosen is not None:
        processor: SpanProcessor = (
            BatchSpanProcessor(chosen) if batch else SimpleSpanProcessor(chosen)
        )
        _provider.add_span_processor(processor)
    return _provider


def shutdown_tracing() -> None:
    """Flush what is batched (called on the way out)."""
    if _provider is not None:
        _provider.shutdown()


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def inject_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """``headers`` plus the current trace context (``traceparent``) and the current call id.
    Returns a new dict when ``headers`` is None; otherwise adds to it."""
    carrier: dict[str, str] = {} if headers is None else headers
    propagate.inject(carrier)
    call_id = logs.CALL_ID.get()
    if call_id:
        carrier[CALL_ID_HEADER] = call_id
    return carrier


def propagate_into(carrier: dict[str, str]) -> None:
    """Only the W3C trace context (no call id) into ``carrier``."""
    propagate.inject(carrier)


def extract_context(msg: Any) -> Context:
    """The trace context a NATS message (or a ``nats.micro`` request, or a plain header
    mapping) carries; an empty context when it carries none, so a span started with it
    begins a new trace rather than joining whatever happens to be current."""
    headers = _headers_of(msg)
    return propagate.extract(headers or {}, context=Context())


def call_id_of(msg: Any) -> str | None:
    headers = _headers_of(msg)
    return headers.get(CALL_ID_HEADER) if headers else None


def _headers_of(msg: Any) -> Mapping[str, str] | None:
    if msg is None or isinstance(msg, Mapping):
        return msg
    headers: Mapping[str, str] | None = getattr(msg, "headers", None)
    return headers


@contextlib.contextmanager
def attached(ctx: Context) -> Iterator[None]:
    """Make ``ctx`` current inside the block (and in tasks created inside it)."""
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def adopt(ctx: Context) -> None:
    """Make ``ctx`` current for the rest of the current task (a request or a call's task)."""
    otel_context.attach(ctx)
