"""Rebuild a call's conversation from its durable events, as the caller lived it.

Why: a new Realtime session (after the agent process died, or the provider's link dropped)
knows nothing of the call. The call events are the one durable account of it, so a resume
replays them: caller turns, agent turns *as heard* (a reply cut by a barge-in or a crash is
cut where the caller stopped hearing it, not where the model stopped generating), tool calls
with their results, and key presses. It also says whether the caller is owed an answer: their
last turn went unanswered, or the answer to it was cut off.

Domain logic only: no bus, no Realtime connection (see :func:`replay` for the one place that
writes the result into a session).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from switchboard_common.events import (
    AgentTurnEvent,
    CallerTurnEvent,
    CallEventBase,
    DtmfEvent,
    ToolCalledEvent,
)

#: Marks an agent turn that the caller did not hear to its end.
CUT_MARK = "…"
#: Items replayed into a new session, newest kept (older ones only cost tokens and time).
MAX_REPLAYED = 60


def keypress_text(digit: str) -> str:
    """How a key press reaches the model: as something the caller did, in the user's voice."""
    return f"[The caller pressed {digit} on the phone keypad.]"


def heard_text(text: str, played_ms: int | None, produced_ms: int) -> str:
    """The part of a reply the caller heard: its text cut in proportion to the audio played,
    at a word boundary, marked as cut. Unknown or complete playback keeps the whole text."""
    if played_ms is None or produced_ms <= 0 or played_ms >= produced_ms:
        return text
    share = played_ms / produced_ms
    cut = int(len(text) * share)
    if cut <= 0:
        return ""
    head = text[:cut]
    if cut < len(text) and not text[cut].isspace():
        head = head.rsplit(" ", 1)[0] if " " in head else ""
    head = head.rstrip(" ,;:")
    return f"{head}{CUT_MARK}" if head else ""


@dataclass(frozen=True)
class Said:
    """A message in the conversation."""

    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class ToolUse:
    """A tool the agent ran, with what it returned (replayed as call and output items)."""

    call_id: str
    name: str
    arguments: str
    output: str


Item = Said | ToolUse


@dataclass(frozen=True)
class Resumption:
    """What a new session needs to carry the call on."""

    items: tuple[Item, ...]
    #: The caller's last turn (or key press, or a tool result the model had not spoken
    #: about yet) has no complete answer: the new session must answer it at once.
    answer_due: bool
    #: The last event's ``seq``: the resumed call's events continue after it.
    last_seq: int
    caller_turns: int
    agent_turns: int
    #: The caller has said something or pressed a key. Until then a new session owes the
    #: caller the greeting (a crash or a drop may have cut it, or come before it).
    caller_spoke: bool = False

    @property
    def greeting_due(self) -> bool:
        """The greeting was never heard to its end and the caller has not spoken yet."""
        return not self.caller_spoke and (self.answer_due or not self.items)


def rebuild(events: Iterable[CallEventBase]) -> Resumption:
    """The conversation in ``events`` (one call's, in ``seq`` order)."""
    items: list[Item] = []
    answer_due = False
    last_seq = 0
    caller_turns = agent_turns = 0
    for event in sorted(events, key=lambda e: e.seq):
        last_seq = max(last_seq, event.seq)
        if isinstance(event, CallerTurnEvent):
            caller_turns += 1
            if event.text.strip():
                items.append(Said("user", event.text))
                answer_due = True
        elif isinstance(event, DtmfEvent):
            items.append(Said("user", keypress_text(event.digit)))
            answer_due = True
        elif isinstance(event, AgentTurnEvent):
            agent_turns += 1
            heard = heard_text(event.text, event.played_ms, event.produced_ms)
            if heard:
                items.append(Said("assistant", heard))
            # A reply the caller heard to its end answers what came before; one they did not
            # (cut by the crash, or by the provider, even where every word it had reached was
            # heard) leaves it owed. A barge-in is followed by the caller's own turn, which is
            # owed an answer in its own right.
            answer_due = heard != event.text or event.interrupted
        elif isinstance(event, ToolCalledEvent):
            items.append(ToolUse(f"resume_{event.seq}", event.name, event.arguments, event.output))
            answer_due = True  # the model has not yet spoken about the result
    caller_spoke = any(isinstance(item, Said) and item.role == "user" for item in items)
    return Resumption(tuple(items), answer_due, last_seq, caller_turns, agent_turns, caller_spoke)


def with_unconfirmed(resumed: Resumption, replies: Sequence[str]) -> Resumption:
    """Add the replies the model finished but whose playback is not confirmed yet (their
    ``agent_turn`` waits for it): the caller is hearing them, so they belong to the
    conversation, and a finished reply answers what came before it."""
    said = tuple(Said("assistant", text) for text in replies if text)
    if not said:
        return resumed
    return dataclasses.replace(resumed, items=resumed.items + said, answer_due=False)


class InFlightText:
    """The transcript of each assistant item as the model streams it, so a reply the link
    dropped halfway can still be recorded with the words it had reached."""

    def __init__(self) -> None:
        self._parts: dict[str, list[str]] = {}

    def add(self, item_id: str, delta: str) -> None:
        self._parts.setdefault(item_id, []).append(delta)

    def pop(self, item_id: str) -> str:
        """The text so far of ``item_id`` (forgotten from here on)."""
        return "".join(self._parts.pop(item_id, [])).strip()

    def forget(self, item_ids: Iterable[str]) -> None:
        """These items are complete: their final transcript came with ``response.done``."""
        for item_id in item_ids:
            self._parts.pop(item_id, None)


class ConversationSink(Protocol):
    """The part of a Realtime link a replay writes to."""

    async def add_text(self, role: Literal["user", "assistant"], text: str) -> None: ...

    async def add_tool_use(self, call_id: str, name: str, arguments: str, output: str) -> None: ...


async def replay(link: ConversationSink, items: Sequence[Item]) -> int:
    """Write the newest :data:`MAX_REPLAYED` items into a fresh session; returns how many."""
    kept = items[-MAX_REPLAYED:]
    for item in kept:
        if isinstance(item, Said):
            await link.add_text(item.role, item.text)
        else:
            await link.add_tool_use(item.call_id, item.name, item.arguments, item.output)
    return len(kept)
