"""Trace context through real NATS messages: what one service injects, the next continues."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from switchboard_common import logs, tracing


async def test_a_request_carries_the_trace_and_the_responder_continues_it(
    nc: Client, spans: InMemorySpanExporter
) -> None:
    async def respond(msg: Msg) -> None:
        with tracing.tracer().start_as_current_span(
            "responder", context=tracing.extract_context(msg)
        ):
            await msg.respond((tracing.call_id_of(msg) or "").encode())

    sub = await nc.subscribe("obs.trace.echo", cb=respond)
    with logs.call_scope("CA42"), tracing.tracer().start_as_current_span("requester") as parent:
        reply = await nc.request("obs.trace.echo", b"", timeout=2, headers=tracing.inject_headers())
    await sub.unsubscribe()

    assert reply.data == b"CA42"
    finished = {span.name: span for span in spans.get_finished_spans()}
    child, root = finished["responder"], finished["requester"]
    assert child.context is not None and root.context is not None
    assert child.context.trace_id == parent.get_span_context().trace_id
    assert child.parent is not None and child.parent.span_id == root.context.span_id


async def test_a_message_without_headers_starts_a_new_trace(
    nc: Client, spans: InMemorySpanExporter
) -> None:
    got: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()

    async def keep(msg: Msg) -> None:
        got.set_result(msg)

    sub = await nc.subscribe("obs.trace.plain", cb=keep)
    with tracing.tracer().start_as_current_span("unrelated"):
        await nc.publish("obs.trace.plain", b"audio")
        msg = await asyncio.wait_for(got, 2)
        # Even with a span current here, the extracted context must not adopt it.
        context = tracing.extract_context(msg)
    await sub.unsubscribe()
    assert msg.headers is None
    assert not trace.get_current_span(context).get_span_context().is_valid


def test_inject_adds_to_the_given_headers_and_only_a_valid_context() -> None:
    headers = {"Nats-Msg-Id": "x"}
    assert tracing.inject_headers(headers) is headers
    assert "traceparent" not in headers  # no span is current
    with tracing.tracer().start_as_current_span("s"):
        assert tracing.inject_headers()["traceparent"].startswith("00-")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "OTLPSpanExporter"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "ConsoleSpanExporter"),
        (
            {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
            None,
        ),
    ],
)
def test_the_exporter_is_chosen_by_the_environment(
    env: dict[str, str], expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    exporter = tracing.exporter_from_env()
    assert (type(exporter).__name__ if exporter is not None else None) == expected
    if exporter is not None:
        exporter.shutdown()


def test_an_unknown_exporter_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ValueError, match="zipkin"):
        tracing.exporter_from_env()
