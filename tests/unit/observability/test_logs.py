"""Log lines: JSON a collector can parse, tagged with the service and the call, and without
secrets or what the caller said unless LOG_TRANSCRIPTS allows it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from switchboard_common import logs, tracing


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger("tests.observability.captured")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = logs.make_handler("json", stream)
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_service_and_the_call_only_inside_its_scope(
    captured: tuple[logging.Logger, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    logger, stream = captured
    monkeypatch.setattr(logs, "_service", "agent")
    with logs.call_scope("CA123", "acme"):
        logger.info("inside %s", "the call")
    logger.warning("outside")
    inside, outside = _lines(stream)
    assert inside["message"] == "inside the call"
    assert inside["service"] == "agent"
    assert (inside["call_id"], inside["business_id"]) == ("CA123", "acme")
    assert inside["level"] == "INFO"
    assert inside["logger"] == "tests.observability.captured"
    assert str(inside["time"]).endswith("+00:00")  # ISO 8601, UTC
    assert (outside["call_id"], outside["business_id"]) == (None, None)


def test_a_line_logged_inside_a_span_names_its_trace(
    captured: tuple[logging.Logger, io.StringIO], spans: InMemorySpanExporter
) -> None:
    logger, stream = captured
    with tracing.tracer().start_as_current_span("work") as span:
        logger.info("traced")
    logger.info("untraced")
    traced, untraced = _lines(stream)
    assert traced["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert traced["span_id"] == format(span.get_span_context().span_id, "016x")
    assert "trace_id" not in untraced


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("key is sk-proj-abcdef123456", "sk-proj-abcdef123456"),
        ("sent Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ("settings password=hunter2 user=bob", "hunter2"),
        ("connecting to nats://svc:s3cret@nats:4222", "s3cret"),
        ("webhook ?auth_token=abc123def&x=1", "abc123def"),
    ],
)
def test_secrets_are_masked_in_messages_and_arguments(
    captured: tuple[logging.Logger, io.StringIO], message: str, secret: str
) -> None:
    logger, stream = captured
    logger.info(message)
    logger.info("as an argument: %s", message)
    for line in _lines(stream):
        assert secret not in str(line["message"])
        assert "***" in str(line["message"])


def test_caller_text_is_a_length_unless_transcripts_are_allowed(
    captured: tuple[logging.Logger, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    logger, stream = captured
    said = "my card number is 4111 1111 1111 1111"
    monkeypatch.delenv("LOG_TRANSCRIPTS", raising=False)
    logger.info("caller said %s", logs.private(said))
    monkeypatch.setenv("LOG_TRANSCRIPTS", "true")
    logger.info("caller said %s", logs.private(said))
    hidden, shown = (str(line["message"]) for line in _lines(stream))
    assert said not in hidden
    assert f"<{len(said)} chars redacted>" in hidden
    assert said in shown


def test_configure_logging_writes_text_or_json_to_stderr_never_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    try:
        monkeypatch.setenv("LOG_FORMAT", "text")
        monkeypatch.setenv("LOG_LEVEL", "debug")
        logs.configure_logging("gateway")
        with logs.call_scope("CA9"):
            logging.getLogger("tests.text").debug("hello")
        text = capsys.readouterr()
        assert text.out == ""
        assert "DEBUG gateway tests.text [CA9] hello" in text.err

        monkeypatch.setenv("LOG_FORMAT", "json")
        logs.configure_logging("gateway")  # replaces the handler: one line per record
        logging.getLogger("tests.json").info("again")
        json_out = capsys.readouterr()
        assert json_out.out == ""
        (line,) = json_out.err.splitlines()
        assert json.loads(line)["service"] == "gateway"
        assert logs.service_name() == "gateway"
    finally:
        if logs._handler is not None:
            root.removeHandler(logs._handler)
        logs._handler = None
        root.handlers[:] = before[0]
        root.setLevel(before[1])
