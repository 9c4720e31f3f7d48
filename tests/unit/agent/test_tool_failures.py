"""What the model is told when a tool fails: plain words it can act on, never the plumbing."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import pytest
from nats import errors as nats_errors
from nats.aio.client import Client

from switchboard_agent.tools import ToolContext, ToolRegistry
from switchboard_agent.tools.builtin import register_builtin_tools
from switchboard_agent.tools.failures import (
    FailureKind,
    classify_bus_error,
    told_to_model,
)
from switchboard_agent.tools.knowledge import FAILURE_WORDS
from switchboard_common import subjects
from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.knowledge import ERROR_CODE_HEADER, ERROR_HEADER

JARGON = ("nats", "no responders", "timeout", "sb.", "error:", "503", "500", "Error(")


class _Msg:
    def __init__(self, data: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.data = data
        self.headers = headers


class _Bus:
    """A client whose request does what the test says: raise, answer, or never answer."""

    def __init__(self, outcome: BaseException | _Msg | None) -> None:
        self.outcome = outcome
        self.subjects: list[str] = []

    async def request(
        self,
        subject: str,
        payload: bytes,
        timeout: float,  # noqa: ASYNC109 - the signature of nats.py's request
        **_: Any,
    ) -> _Msg:
        self.subjects.append(subject)
        if self.outcome is None:
            async with asyncio.timeout(timeout):  # as nats.py does: its own deadline
                await asyncio.Event().wait()
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        assert isinstance(self.outcome, _Msg)
        return self.outcome


def _ctx(bus: _Bus) -> ToolContext:
    return ToolContext(call_id="CA1", business=DEMO_BUSINESS, nc=cast(Client, bus))


def _assert_plain(output: str) -> None:
    for word in JARGON:
        assert word.casefold() not in output.casefold(), (word, output)


@pytest.mark.parametrize(
    ("outcome", "kind"),
    [
        (nats_errors.NoRespondersError(), FailureKind.UNREACHABLE),
        (nats_errors.TimeoutError(), FailureKind.TIMEOUT),
        (nats_errors.ConnectionClosedError(), FailureKind.UNREACHABLE),
        (nats_errors.ConnectionReconnectingError(), FailureKind.UNREACHABLE),
        (
            _Msg(headers={ERROR_HEADER: "weaviate down", ERROR_CODE_HEADER: "503"}),
            FailureKind.BACKEND_ERROR,
        ),
        (
            _Msg(headers={ERROR_HEADER: "internal", ERROR_CODE_HEADER: "500"}),
            FailureKind.BACKEND_ERROR,
        ),
        (
            _Msg(headers={ERROR_HEADER: "unknown business", ERROR_CODE_HEADER: "404"}),
            FailureKind.REFUSED,
        ),
        (_Msg(data=b"not json"), FailureKind.INTERNAL),
    ],
)
async def test_every_knowledge_failure_is_told_in_the_same_plain_words(
    outcome: BaseException | _Msg, kind: FailureKind
) -> None:
    registry = register_builtin_tools(ToolRegistry())
    bus = _Bus(outcome)
    result = await registry.run("query_knowledge_base", '{"query": "hours"}', _ctx(bus))
    assert bus.subjects == [subjects.KNOWLEDGE_QUERY]
    assert not result.ok and result.failure is kind
    assert json.loads(result.output) == {"status": "unavailable", "error": FAILURE_WORDS}
    _assert_plain(result.output)


async def test_a_hung_knowledge_service_is_answered_within_the_deadline() -> None:
    registry = register_builtin_tools(ToolRegistry(), knowledge_deadline_s=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await registry.run("query_knowledge_base", '{"query": "hours"}', _ctx(_Bus(None)))
    assert loop.time() - started < 1.0
    assert result.failure is FailureKind.TIMEOUT
    _assert_plain(result.output)


async def test_an_empty_or_huge_query_is_the_model_s_to_fix() -> None:
    registry = register_builtin_tools(ToolRegistry())
    bus = _Bus(nats_errors.NoRespondersError())
    empty = await registry.run("query_knowledge_base", '{"query": " "}', _ctx(bus))
    huge = await registry.run("query_knowledge_base", json.dumps({"query": "x " * 3000}), _ctx(bus))
    assert bus.subjects == []
    for result in (empty, huge):
        assert result.failure is FailureKind.BAD_INPUT
        assert json.loads(result.output)["status"] == "invalid"
        _assert_plain(result.output)
    # Bad arguments say nothing about the backend: its breaker stays closed.
    assert registry.breaker("knowledge").acquire() is not None


def test_every_kind_has_plain_words() -> None:
    for kind in FailureKind:
        told = told_to_model(kind, "", "a query is needed")
        assert told["error"].endswith(".")
        _assert_plain(json.dumps(told))
        assert kind.value not in told["error"]


def test_bus_errors_are_classified() -> None:
    assert classify_bus_error(TimeoutError()) is FailureKind.TIMEOUT
    assert classify_bus_error(nats_errors.NoRespondersError()) is FailureKind.UNREACHABLE
    assert classify_bus_error(ValueError("x")) is FailureKind.INTERNAL
