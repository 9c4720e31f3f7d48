"""The call's trace and token count, turn by turn.

Why: a turn's latency (the end of the caller's speech to the agent's first audio) is what a
caller feels, so each is a span under the call's; the tokens the model used are summed for
the call's last event. Both are bookkeeping the call session should not carry inline.
"""

from __future__ import annotations

from openai.types.realtime import RealtimeResponseUsage
from opentelemetry import trace
from opentelemetry.trace import Span

from switchboard_common import tracing
from switchboard_common.events import TokenUsage


class TurnTrace:
    def __init__(self) -> None:
        #: The call's span (set once the call's task runs), parent of every turn's.
        self.call_span: Span = trace.INVALID_SPAN
        self._turn: Span | None = None
        self.usage = TokenUsage()

    def begin_turn(self, caller_index: int) -> None:
        """The caller stopped speaking: a turn begins (an unanswered one before it ends)."""
        self.end_turn("caller spoke again")
        self._turn = tracing.tracer().start_span(
            "agent.turn",
            context=trace.set_span_in_context(self.call_span),
            attributes={"turn.caller_index": caller_index},
        )

    def end_turn(self, unanswered: str | None = None) -> None:
        """The agent's first audio came (or, with ``unanswered``, why none will)."""
        span, self._turn = self._turn, None
        if span is None:
            return
        if unanswered is not None:
            span.set_attribute("turn.unanswered", unanswered)
        span.end()

    def count(self, usage: RealtimeResponseUsage | None) -> None:
        if usage is None:
            return
        self.usage = TokenUsage(
            input_tokens=self.usage.input_tokens + (usage.input_tokens or 0),
            output_tokens=self.usage.output_tokens + (usage.output_tokens or 0),
            total_tokens=self.usage.total_tokens + (usage.total_tokens or 0),
        )
