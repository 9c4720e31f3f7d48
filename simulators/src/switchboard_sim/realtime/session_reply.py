"""What the next response says or calls: an exact instruction, the reply to a tool's output,
or the script's turn for the caller's last words (with its tool, when the session offers it).

The simulator's stand-in for a model, in one place; :mod:`.responder` carries the plan out.
Import from :mod:`.session`, the public face.
"""

from __future__ import annotations

from typing import Any

from openai.types.realtime import RealtimeResponseCreateParams

from .responder import Plan, PlannedOutput
from .script import Turn, fill_template, say_exactly
from .session_core import SessionCore


class ReplyPolicy(SessionCore):
    """Plans each response from the script and the conversation (a base of the session)."""

    def plan(self, params: RealtimeResponseCreateParams | None) -> Plan:
        """Decide what the next response says or calls (see script.py)."""
        exact = say_exactly(params.instructions if params else None)
        if exact:
            return Plan([PlannedOutput.speak(exact)])
        if self._tool_outputs:
            call_id, output = self._tool_outputs[-1]
            self._tool_outputs.clear()
            turn = self._tool_calls.get(call_id)
            template = (turn.agent_after_tool if turn else None) or self.script.after_tool_reply
            return Plan([PlannedOutput.speak(fill_template(template, output))])
        pending, self._pending_user = self._pending_user, None
        turn = pending.turn if pending else None
        if turn is None:
            return Plan([PlannedOutput.speak(self.script.default_reply)])
        if turn.tool is None:
            return Plan([PlannedOutput.speak(turn.agent or self.script.default_reply)])
        if not self._tool_available(turn.tool.name, params):
            return Plan([PlannedOutput.speak(turn.agent or self.script.tool_unavailable_reply)])
        outputs = [PlannedOutput.speak(turn.agent)] if turn.agent else []
        outputs.append(PlannedOutput.call(turn.tool.name, turn.tool.arguments, turn))
        return Plan(outputs)

    def _tool_available(self, name: str, params: RealtimeResponseCreateParams | None) -> bool:
        tools: list[Any] = self.session.get("tools") or []
        choice: Any = self.session.get("tool_choice")
        if params is not None and params.tools is not None:
            tools = [t.model_dump(mode="json") for t in params.tools]
        if params is not None and params.tool_choice is not None:
            choice = params.tool_choice
        if choice == "none":
            return False
        return any(t.get("type", "function") == "function" and t.get("name") == name for t in tools)

    def register_call(self, call_id: str, turn: Turn | None) -> None:
        self._tool_calls[call_id] = turn
