"""A tool's result reaches the session the call is on when it is ready: after a drop or a
rollover the new session gets the call and its result together and is asked to answer; the
session that called the tool gets only the result."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from switchboard_agent.realtime.link import RealtimeLink
from switchboard_agent.tool_runs import ToolRuns
from switchboard_agent.tools import ToolResult
from switchboard_common.business import DEMO_BUSINESS


class _Link:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self._log = name, log

    async def tool_output(self, call_id: str, output: str) -> None:
        self._log.append(f"{self.name}.tool_output {call_id} {output}")

    async def add_tool_use(self, call_id: str, name: str, arguments: str, output: str) -> None:
        self._log.append(f"{self.name}.add_tool_use {call_id} {name} {output}")

    async def respond(self) -> None:
        self._log.append(f"{self.name}.respond")


class _Holding:
    async def results(self, runs: Any, **_: Any) -> Any:
        return await runs

    async def ready_to_answer(self) -> None:
        pass


def _runs(log: list[str]) -> ToolRuns:
    events = SimpleNamespace(tool_called=lambda *a, **k: log.append("event.tool_called"))

    async def publish(event: Any) -> None:
        pass

    return ToolRuns(
        DEMO_BUSINESS,
        cast(Any, None),
        cast(Any, SimpleNamespace(call_id="CA1", business=DEMO_BUSINESS)),
        cast(Any, _Holding()),
        cast(Any, events),
        publish,
    )


async def _finished() -> tuple[str, str, str, ToolResult]:
    return "call_1", "query_knowledge_base", "{}", ToolResult(True, "noon", 12.0)


async def _answer(runs: ToolRuns, caller: _Link, current: _Link) -> None:
    async def link_ready() -> RealtimeLink | None:
        return cast(RealtimeLink, current)

    task = asyncio.create_task(_finished())
    await runs.answer(
        [task],
        cast(RealtimeLink, caller),
        link_ready=link_ready,
        respond=lambda: True,
        speech_stopped_at=None,
        may_speak=lambda: True,
    )


async def test_the_session_that_called_gets_the_result_and_answers() -> None:
    log: list[str] = []
    link = _Link("A", log)
    await _answer(_runs(log), link, link)
    assert log == ["A.tool_output call_1 noon", "event.tool_called", "A.respond"]


async def test_a_new_session_gets_the_call_with_its_result_and_answers() -> None:
    log: list[str] = []
    runs = _runs(log)
    await _answer(runs, _Link("A", log), _Link("B", log))
    assert log == [
        "B.add_tool_use call_1 query_knowledge_base noon",
        "event.tool_called",
        "B.respond",
    ]
    assert not runs.answering
