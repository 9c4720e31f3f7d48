"""The tool registry, in the spirit of ``addTool(definition, handler)``.

A tool is declared once — name, description, JSON schema of its arguments, async handler,
timeout — and the session runs it whenever the model calls it. Whatever happens inside (bad
arguments, an exception, a timeout) comes back as a :class:`ToolResult` the model can talk about;
a tool can never take a call down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client

from switchboard_common import logs
from switchboard_common.business import BusinessProfile

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class ToolContext:
    """What a handler may know about the call it serves."""

    call_id: str
    business: BusinessProfile
    nc: Client | None = None
    #: The call session, for tools that end or transfer the call (see ``telephony``).
    control: Any = None


Handler = Callable[[ToolContext, JsonObject], Awaitable[Any]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: JsonObject
    handler: Handler
    timeout_s: float = 5.0

    def definition(self) -> JsonObject:
        """The Realtime API's function-tool declaration."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    output: str  # JSON text handed to the model as function_call_output
    latency_ms: float


@dataclass
class ToolRegistry:
    _tools: dict[str, Tool] = field(default_factory=dict)

    def add(self, tool: Tool) -> Tool:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        return tool

    def tool(
        self, name: str, description: str, parameters: JsonObject, timeout_s: float = 5.0
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def register(handler: Handler) -> Handler:
            self.add(Tool(name, description, parameters, handler, timeout_s))
            return handler

        return register

    def names(self) -> list[str]:
        return list(self._tools)

    def definitions(self, enabled: Iterable[str]) -> list[JsonObject]:
        return [self._tools[n].definition() for n in enabled if n in self._tools]

    async def run(self, name: str, arguments: str, ctx: ToolContext) -> ToolResult:
        started = time.perf_counter()

        def result(ok: bool, payload: JsonObject) -> ToolResult:
            text = json.dumps(payload, default=str)
            return ToolResult(ok, text, (time.perf_counter() - started) * 1000.0)

        tool = self._tools.get(name)
        if tool is None or name not in ctx.business.enabled_tools:
            return result(False, {"error": f"There is no tool named {name!r}."})
        try:
            args = json.loads(arguments or "{}")
            if not isinstance(args, dict):
                raise ValueError("arguments are not a JSON object")
        except ValueError as exc:
            return result(False, {"error": f"The arguments were not valid JSON: {exc}"})
        try:
            output = await asyncio.wait_for(tool.handler(ctx, args), timeout=tool.timeout_s)
        except TimeoutError:
            log.warning("call %s: tool %s timed out after %ss", ctx.call_id, name, tool.timeout_s)
            return result(False, {"error": f"{name} did not answer in time; it may be down."})
        except Exception as exc:
            # The message may quote the model's arguments, i.e. what the caller said.
            log.warning(
                "call %s: tool %s failed: %s: %s",
                ctx.call_id,
                name,
                type(exc).__name__,
                logs.private(exc),
            )
            return result(False, {"error": f"{name} failed: {exc}"})
        return result(True, output if isinstance(output, dict) else {"result": output})
