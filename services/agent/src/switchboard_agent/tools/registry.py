"""The tool registry, in the spirit of ``addTool(definition, handler)``.

A tool is declared once — name, description, JSON schema of its arguments, async handler,
timeout, the backend it depends on and what to tell the model when it fails — and the session
runs it whenever the model calls it. Whatever happens inside (bad arguments, an exception, a
timeout, a backend given up on by its circuit breaker) comes back as a :class:`ToolResult` in
plain words the model can talk about (see :mod:`.failures`); a tool can never take a call down.
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

from .. import metrics
from .breaker import BreakerPolicy, BreakerState, CircuitBreaker, Clock, Permit
from .failures import FailureKind, ToolFailure, ToolInputError, told_to_model

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
    #: The service the tool depends on; tools naming the same backend share a circuit breaker.
    backend: str | None = None
    #: What the model is told when the tool fails: what could not be done, and what to do.
    failure_words: str = ""

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
    #: Why it failed (for logs, metrics and spans; the model only sees ``output``).
    failure: FailureKind | None = None


@dataclass
class ToolRegistry:
    #: How every backend's circuit breaker behaves (breakers are per process, per backend).
    breaker_policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    clock: Clock = time.monotonic
    _tools: dict[str, Tool] = field(default_factory=dict)
    _breakers: dict[str, CircuitBreaker] = field(default_factory=dict)

    def add(self, tool: Tool) -> Tool:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        return tool

    def tool(
        self,
        name: str,
        description: str,
        parameters: JsonObject,
        timeout_s: float = 5.0,
        *,
        backend: str | None = None,
        failure_words: str = "",
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def register(handler: Handler) -> Handler:
            self.add(
                Tool(name, description, parameters, handler, timeout_s, backend, failure_words)
            )
            return handler

        return register

    def names(self) -> list[str]:
        return list(self._tools)

    def definitions(self, enabled: Iterable[str]) -> list[JsonObject]:
        return [self._tools[n].definition() for n in enabled if n in self._tools]

    def breaker(self, backend: str) -> CircuitBreaker:
        """The backend's circuit breaker, made on first use."""
        breaker = self._breakers.get(backend)
        if breaker is None:
            breaker = CircuitBreaker(backend, self.breaker_policy, self.clock, _count_transition)
            self._breakers[backend] = breaker
        return breaker

    async def run(self, name: str, arguments: str, ctx: ToolContext) -> ToolResult:
        started = time.perf_counter()

        def done(payload: JsonObject, failure: FailureKind | None = None) -> ToolResult:
            text = json.dumps(payload, default=str)
            latency_ms = (time.perf_counter() - started) * 1000.0
            return ToolResult(failure is None, text, latency_ms, failure)

        tool = self._tools.get(name)
        if tool is None or name not in ctx.business.enabled_tools:
            return done(told_to_model(FailureKind.UNKNOWN_TOOL, ""), FailureKind.UNKNOWN_TOOL)
        try:
            args = json.loads(arguments or "{}")
            if not isinstance(args, dict):
                raise ValueError("arguments are not a JSON object")
        except ValueError:
            detail = "the arguments were not a valid JSON object"
            return done(told_to_model(FailureKind.BAD_INPUT, "", detail), FailureKind.BAD_INPUT)
        breaker = self.breaker(tool.backend) if tool.backend is not None else None
        permit = breaker.acquire() if breaker is not None else Permit(trial=False)
        if permit is None:
            metrics.TOOL_FAST_FAILURES.labels(tool.backend or "").inc()
            return self._failed(tool, ctx, FailureKind.CIRCUIT_OPEN, "circuit breaker open", done)
        kind: FailureKind | None = None
        finished = False
        try:
            output = await asyncio.wait_for(tool.handler(ctx, args), timeout=tool.timeout_s)
            finished = True
        except TimeoutError:
            kind, detail = FailureKind.TIMEOUT, f"no answer within {tool.timeout_s} s"
            finished = True
        except ToolFailure as exc:
            kind, detail, finished = exc.kind, exc.detail, True
        except ToolInputError as exc:
            kind, detail, finished = FailureKind.BAD_INPUT, str(exc), True
        except Exception as exc:
            kind, detail = FailureKind.INTERNAL, f"{type(exc).__name__}: {exc}"
            finished = True
        finally:
            if breaker is not None and not finished:  # cancelled: the caller hung up
                breaker.abandoned(permit)
            elif breaker is not None:
                _settle(breaker, permit, kind)
        if kind is not None:
            return self._failed(tool, ctx, kind, detail, done)
        return done(output if isinstance(output, dict) else {"result": output})

    def _failed(
        self,
        tool: Tool,
        ctx: ToolContext,
        kind: FailureKind,
        detail: str,
        done: Callable[[JsonObject, FailureKind], ToolResult],
    ) -> ToolResult:
        metrics.TOOL_FAILURES.labels(tool.name, kind.value).inc()
        # The detail may quote the model's arguments, i.e. what the caller said.
        log.warning(
            "call %s: tool %s failed (%s): %s", ctx.call_id, tool.name, kind, logs.private(detail)
        )
        return done(told_to_model(kind, tool.failure_words, detail), kind)


def _settle(breaker: CircuitBreaker, permit: Permit, kind: FailureKind | None) -> None:
    """Tell the breaker what the call showed about its backend: unusable arguments show
    nothing; a refusal shows the backend is alive."""
    if kind is None or kind is FailureKind.REFUSED:
        breaker.succeeded(permit)
    elif kind.backend_at_fault:
        breaker.failed(permit)
    else:
        breaker.abandoned(permit)


def _count_transition(backend: str, old: BreakerState, new: BreakerState) -> None:
    metrics.TOOL_BREAKER_TRANSITIONS.labels(backend, new.value).inc()
    metrics.TOOL_BREAKER_OPEN.labels(backend).set(0 if new is BreakerState.CLOSED else 1)
