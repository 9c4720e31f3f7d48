"""Running the tools the model calls, and handing their results back to it.

Why: a tool call arrives with the model's response, runs while the response finishes, and is
answered once that response is done, covered by a holding phrase if it is slow (see
:mod:`.tools.holding`). Each run is traced, counted, recorded as a call event and published.
The result goes to the session the call is on when it is ready: if the Realtime link dropped
or rolled over meanwhile, the new session gets the call and its result together (it never saw
the call), and is the one asked to answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

from openai.types.realtime import (
    RealtimeConversationItemFunctionCall,
    ResponseOutputItemDoneEvent,
)
from opentelemetry.trace import Status, StatusCode

from switchboard_common import tracing
from switchboard_common.business import BusinessProfile
from switchboard_common.event_stream import CallEventPublisher
from switchboard_common.messages import ToolCallEvent

from . import metrics
from .realtime.link import RealtimeLink
from .tools import ToolContext, ToolRegistry, ToolResult
from .tools.holding import HoldingLine

#: A finished run: the model's call id, the tool's name, its arguments, and the result.
Run = asyncio.Task[tuple[str, str, str, ToolResult]]
#: The call's link once it has one (waiting while a dropped one is replaced); None: none came.
LinkReady = Callable[[], Awaitable[RealtimeLink | None]]


class ToolRuns:
    def __init__(
        self,
        business: BusinessProfile,
        tools: ToolRegistry,
        ctx: ToolContext,
        holding: HoldingLine,
        events: CallEventPublisher,
        publish: Callable[[ToolCallEvent], Awaitable[None]],
    ) -> None:
        self._business = business
        self._tools = tools
        self._ctx = ctx
        self._holding = holding
        self._events = events
        self._publish = publish
        self._runs: dict[str, list[Run]] = {}
        self._answering = 0

    @property
    def answering(self) -> bool:
        """Results are on their way to the model, which they will ask to answer: a new
        session must not answer the caller's turn before them."""
        return self._answering > 0

    def use_business(self, business: BusinessProfile) -> None:
        """The business's settings changed during the call: tools run from now on see them
        (its enabled tools, its transfer number)."""
        self._business = business
        self._ctx = replace(self._ctx, business=business)

    def start(self, event: ResponseOutputItemDoneEvent) -> None:
        """A finished output item: if it calls a tool, run it now (answered with its response)."""
        item = event.item
        if not isinstance(item, RealtimeConversationItemFunctionCall) or not item.call_id:
            return
        task = asyncio.create_task(self._run(item.call_id, item.name, item.arguments))
        self._runs.setdefault(event.response_id, []).append(task)

    def take(self, response_id: str) -> list[Run]:
        """The runs started by ``response_id`` (now done generating)."""
        return self._runs.pop(response_id, [])

    async def _run(
        self, call_id: str, name: str, arguments: str
    ) -> tuple[str, str, str, ToolResult]:
        """A child span per tool call; a knowledge query made inside it carries it on."""
        with tracing.tracer().start_as_current_span(
            f"agent.tool {name}", attributes={"tool.name": name}
        ) as span:
            result = await self._tools.run(name, arguments, self._ctx)
            span.set_attribute("tool.ok", result.ok)
            if result.failure is not None:
                span.set_attribute("tool.failure", result.failure.value)
                span.set_status(Status(StatusCode.ERROR))
        return call_id, name, arguments, result

    async def answer(
        self,
        runs: list[Run],
        link: RealtimeLink,
        *,
        link_ready: LinkReady,
        respond: Callable[[], bool],
        speech_stopped_at: float | None,
        may_speak: Callable[[], bool],
    ) -> None:
        """Give the model the runs' results (a holding phrase meanwhile if they are slow),
        then, when ``respond()`` says so once they are in, ask it to answer with them.
        ``link`` is the session that called the tools."""
        self._answering += 1
        try:
            results = await self._holding.results(
                asyncio.gather(*runs),
                speech_stopped_at=speech_stopped_at,
                may_speak=may_speak,
                speaker=link,
            )
            current = await link_ready()
            for call_id, name, arguments, result in results:
                metrics.TOOL_CALLS.labels(name, str(result.ok).lower()).inc()
                metrics.TOOL_LATENCY.labels(name).observe(result.latency_ms / 1000.0)
                if current is link:
                    await link.tool_output(call_id, result.output)
                elif current is not None:  # a new session: the call and its result, together
                    await current.add_tool_use(call_id, name, arguments, result.output)
                await self._record(name, arguments, result)
            if current is not None and respond():
                await self._holding.ready_to_answer()
                await current.respond()
        finally:
            self._answering -= 1

    async def _record(self, name: str, arguments: str, result: ToolResult) -> None:
        self._events.tool_called(
            name, arguments, ok=result.ok, output=result.output, latency_ms=result.latency_ms
        )
        await self._publish(
            ToolCallEvent(
                call_id=self._ctx.call_id,
                business_id=self._business.business_id,
                name=name,
                arguments=arguments,
                ok=result.ok,
                output=result.output,
                latency_ms=result.latency_ms,
            )
        )
