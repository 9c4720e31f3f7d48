"""The call script: what the caller "said" and how the assistant answers.

A simulator cannot understand speech, so the n-th committed caller segment is
*defined* to be turn n's ``caller`` text and the reply follows the turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SAY_EXACTLY = re.compile(r"say exactly:\s*[\"“](?P<text>[^\"”]+)[\"”]", re.IGNORECASE)


class ScriptedToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    caller: str
    agent: str | None = None
    tool: ScriptedToolCall | None = None
    agent_after_tool: str | None = None


class Script(BaseModel):
    model_config = ConfigDict(extra="forbid")

    turns: list[Turn] = Field(default_factory=list)
    default_reply: str = "Okay, I understand."
    tool_unavailable_reply: str = "Sorry, I can't do that right now."
    after_tool_reply: str = "All done: {output}"

    @classmethod
    def load(cls, source: Script | Mapping[str, Any] | str | Path | None) -> Script:
        """Accept a Script, a dict, a JSON file path, or None (default policy)."""
        if source is None:
            return cls()
        if isinstance(source, Script):
            return source
        if isinstance(source, str | Path):
            return cls.model_validate(json.loads(Path(source).read_text(encoding="utf-8")))
        return cls.model_validate(dict(source))

    def turn(self, index: int) -> Turn | None:
        return self.turns[index] if 0 <= index < len(self.turns) else None

    def turn_for_text(self, text: str) -> Turn | None:
        """A typed user message that matches a scripted caller line, if any."""
        wanted = text.strip().casefold()
        return next((t for t in self.turns if t.caller.strip().casefold() == wanted), None)


def placeholder_transcript(segment: int, duration_ms: int) -> str:
    """Transcript for caller speech beyond the script (1-based segment number)."""
    return f"(caller speech {segment}, {duration_ms / 1000:.1f} s)"


def say_exactly(instructions: str | None) -> str | None:
    """The quoted sentence after 'Say exactly:' in response instructions."""
    match = SAY_EXACTLY.search(instructions or "")
    return match.group("text").strip() if match else None


def render_output(output: str, limit: int = 120) -> str:
    """Short speakable rendering of a function_call_output string."""
    try:
        value: Any = json.loads(output)
    except ValueError:
        value = output
    if isinstance(value, dict):
        text = ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items())
    elif isinstance(value, list):
        text = ", ".join(_scalar(v) for v in value)
    else:
        text = _scalar(value)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_OUTPUT_FIELD = re.compile(r"\{output((?:\.[A-Za-z0-9_]+)*)\}")


def fill_template(template: str, output: str) -> str:
    """Replace ``{output}`` with a short rendering of a tool's output, and ``{output.a.0.b}``
    with that field of its JSON (empty when absent): how a script speaks a tool's answer."""

    def field(match: re.Match[str]) -> str:
        path = [p for p in match.group(1).split(".") if p]
        if not path:
            return render_output(output)
        try:
            value: Any = json.loads(output)
        except ValueError:
            return ""
        for part in path:
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            elif isinstance(value, dict) and part in value:
                value = value[part]
            else:
                return ""
        return _scalar(value)

    return _OUTPUT_FIELD.sub(field, template)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
