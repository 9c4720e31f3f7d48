"""A tool can fail in every way without taking the call down."""

from __future__ import annotations

import asyncio
import json

from switchboard_agent.tools import ToolContext, ToolRegistry
from switchboard_agent.tools.builtin import register_builtin_tools
from switchboard_agent.tools.failures import FailureKind
from switchboard_common.business import DEMO_BUSINESS


def _registry() -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool("echo", "echo", {"type": "object"}, timeout_s=0.5)
    async def echo(ctx: ToolContext, args: dict[str, object]) -> dict[str, object]:
        return {"you_said": args.get("text")}

    @registry.tool("boom", "fails", {"type": "object"})
    async def boom(ctx: ToolContext, args: dict[str, object]) -> None:
        raise RuntimeError("database on fire")

    @registry.tool("slow", "hangs", {"type": "object"}, timeout_s=0.05)
    async def slow(ctx: ToolContext, args: dict[str, object]) -> None:
        await asyncio.Event().wait()

    return registry


CTX = ToolContext(
    call_id="CA1",
    business=DEMO_BUSINESS.model_copy(update={"enabled_tools": ["echo", "boom", "slow"]}),
)


async def test_a_tool_runs_and_its_output_is_json() -> None:
    result = await _registry().run("echo", '{"text": "hi"}', CTX)
    assert result.ok
    assert json.loads(result.output) == {"you_said": "hi"}


async def test_exceptions_timeouts_and_bad_arguments_become_error_results() -> None:
    registry = _registry()
    boom = await registry.run("boom", "{}", CTX)
    assert not boom.ok and boom.failure is FailureKind.INTERNAL
    # The exception's text is for the logs: the model gets plain words.
    assert "database on fire" not in boom.output and "RuntimeError" not in boom.output
    assert json.loads(boom.output)["status"] == "unavailable"
    slow = await registry.run("slow", "{}", CTX)
    assert not slow.ok and slow.failure is FailureKind.TIMEOUT
    assert json.loads(slow.output)["status"] == "unavailable"
    bad = await registry.run("echo", "{not json", CTX)
    assert not bad.ok and "JSON" in json.loads(bad.output)["error"]
    assert bad.failure is FailureKind.BAD_INPUT
    unknown = await registry.run("nope", "{}", CTX)
    assert not unknown.ok and unknown.failure is FailureKind.UNKNOWN_TOOL


async def test_a_tool_the_business_did_not_enable_is_refused() -> None:
    registry = _registry()
    ctx = ToolContext(call_id="CA1", business=DEMO_BUSINESS)
    result = await registry.run("echo", "{}", ctx)
    assert not result.ok


def test_definitions_follow_the_realtime_function_tool_shape() -> None:
    registry = register_builtin_tools(ToolRegistry())
    definitions = registry.definitions(["take_message", "missing"])
    assert [d["name"] for d in definitions] == ["take_message"]
    assert definitions[0]["type"] == "function"
    assert definitions[0]["parameters"]["required"] == ["message"]


async def test_take_message_without_a_bus_is_an_error_not_a_crash() -> None:
    registry = register_builtin_tools(ToolRegistry())
    ctx = ToolContext(call_id="CA1", business=DEMO_BUSINESS, nc=None)
    result = await registry.run("take_message", '{"message": "call me"}', ctx)
    assert not result.ok
