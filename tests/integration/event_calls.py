"""The calls whose stored events ``test_documented_events_calls.py`` holds to docs/events.md:
the businesses, agents and gateway they use, what the caller says and the Realtime
simulator's script, how each call is made (one with its agent killed as the caller starts to
ask), and each call as the caller lived it and as the stream stored it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from nats.js.api import DeliverPolicy

from switchboard_agent.resume import keypress_text
from switchboard_common.audio import FRAME_BYTES, ULAW_SILENCE
from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.events import STREAM_NAME, call_events
from switchboard_common.messages import CallRecord, CallState
from switchboard_sim.call import (
    CallResult,
    CallSimulator,
    Scenario,
    read_wav_ulaw,
    write_ulaw_wav,
)
from switchboard_sim.call.audio import is_speech
from switchboard_sim.stack import Child

from .call_probes import events_to_the_end, record_when
from .conftest import SAMPLES, RunningStack, scenario_dict

GATEWAY = "gw-events"
AGENTS = ("agent-events-1", "agent-events-2")
CALLER = "+15557777"
#: A business with no transfer number, and one whose number a person answers.
DESK = DEMO_BUSINESS.model_copy(
    update={
        "business_id": "events-desk",
        "greeting": "Events desk, hello.",
        "transfer_number": None,
    }
)
PUT_THROUGH_TO = "+15550999"
HELPDESK = DEMO_BUSINESS.model_copy(
    update={
        "business_id": "events-helpdesk",
        "phone_numbers": ["+15550200"],
        "greeting": "Helpdesk, hello.",
        "transfer_number": PUT_THROUGH_TO,
        "transfer_timeout_s": 5,
    }
)
#: What the caller says (the Realtime simulator's n-th caller segment is its script's n-th).
ASK_MESSAGE = "Could you take a message for the manager?"
ASK_PERSON = "Can I speak to a person?"
ONE_MORE = "Sorry, one more thing."
MESSAGE_ARGS = {"caller_name": "Sam", "message": "Please call Sam back."}
MESSAGE_TAKEN = "Done, the manager will call you back."
KEY_ANSWER = "You pressed one."
#: Long enough for the caller to cut it 700 ms in.
SORRY = (
    "I'm sorry, nobody can take your call just now, but I can take a message for the "
    "manager instead, or help you myself."
)
GO_AHEAD = "Of course, go ahead."
GOODBYE = "Goodbye!"
HANG_UP_REASON = "the caller pressed 9 to leave"
TRANSFER_REASON = "the caller pressed 0 for a person"
PUTTING_THROUGH = "Putting you through."
BARGE_IN_MS = 700


def realtime_script() -> dict[str, Any]:
    def tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "arguments": arguments}

    return {
        "turns": [
            {
                "caller": ASK_MESSAGE,
                "tool": tool("take_message", MESSAGE_ARGS),
                "agent_after_tool": MESSAGE_TAKEN,
            },
            {
                "caller": ASK_PERSON,
                "tool": tool("transfer_call", {"reason": "wants a person"}),
                "agent_after_tool": SORRY,
            },
            {"caller": ONE_MORE, "agent": GO_AHEAD},
            # Key presses reach the model as text, matched by it.
            {"caller": keypress_text("1"), "agent": KEY_ANSWER},
            {
                "caller": keypress_text("9"),
                "agent": GOODBYE,
                "tool": tool("end_call", {"reason": HANG_UP_REASON}),
                "agent_after_tool": "This line is never said.",
            },
            {
                "caller": keypress_text("0"),
                "tool": tool("transfer_call", {"reason": TRANSFER_REASON}),
                "agent_after_tool": PUTTING_THROUGH,
            },
        ]
    }


def long_question(path: Path) -> Path:
    """Two sample questions run together (about 4.5 s of speech, no pause the model's
    turn detection would end a turn on): the agent is killed as it starts, and the agent that
    takes the call over must still hear enough of it to answer."""
    speech = b""
    for name in ("turn2_message.wav", "turn1_opening_hours.wav"):
        audio = read_wav_ulaw(SAMPLES / name)
        frames = [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
        spoken = [i for i, frame in enumerate(frames) if is_speech(frame)]
        speech += b"".join(frames[spoken[0] : spoken[-1] + 1])
        speech += bytes([ULAW_SILENCE]) * (FRAME_BYTES * 5)
    write_ulaw_wav(path, speech)
    return path


@dataclass
class Heard:
    """One call as the caller lived it and as the stream stored it."""

    result: CallResult
    #: The call simulator's log lines, each with when it was written.
    lines: list[tuple[datetime, str]]
    #: The stored events as JSON, in stream order, with the subject of each.
    events: list[dict[str, Any]]
    subjects: list[str]

    def when(self, words: str) -> datetime:
        """When the caller's log first said ``words``."""
        return next(at for at, line in self.lines if words in line)

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == event_type]

    def after(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event stored next."""
        return self.events[event["seq"]]


@dataclass
class Calls:
    asked: Heard
    hung_up: Heard
    put_through: Heard
    #: The agent killed during the question call, the one that took it over, and when.
    lost_agent: str
    new_agent: str
    killed_at: datetime
    #: How long the question call's caller spoke in each turn that speaks, by turn number.
    speech_ms: dict[int, int]
    #: The question call's events read again once the other two calls were over.
    asked_later: list[dict[str, Any]]


def at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["at"])


async def stored(nats_url: str, call_id: str) -> tuple[list[str], list[dict[str, Any]]]:
    """A call's events once its ``call_ended`` is in, replayed as docs/events.md says (an
    ordered consumer from the start, up to the message with nothing pending): the subject
    and the JSON of each, untouched by any model."""
    await events_to_the_end(nats_url, call_id)
    nc = await nats.connect(nats_url)
    subjects: list[str] = []
    events: list[dict[str, Any]] = []
    try:
        sub = await nc.jetstream().subscribe(
            call_events(call_id),
            stream=STREAM_NAME,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        async with asyncio.timeout(10):
            while True:
                msg = await sub.next_msg(timeout=None)
                subjects.append(msg.subject)
                events.append(json.loads(msg.data))
                if msg.metadata.num_pending == 0:
                    break
        await sub.unsubscribe()
    finally:
        await nc.close()
    return subjects, events


def _recorder(
    mark: str | None = None, marked: asyncio.Event | None = None
) -> tuple[list[tuple[datetime, str]], Callable[[str], None]]:
    lines: list[tuple[datetime, str]] = []

    def log(line: str) -> None:
        lines.append((datetime.now(UTC), line))
        if mark is not None and marked is not None and mark in line:
            marked.set()

    return lines, log


async def _heard(
    system: RunningStack, result: CallResult, lines: list[tuple[datetime, str]]
) -> Heard:
    assert result.ok, result.summary() + "\n" + "\n".join(result.log)
    subjects, events = await stored(system.stack.nats_url, result.call_sid)
    return Heard(result, lines, events, subjects)


async def place_call(system: RunningStack, to_number: str, turns: list[dict[str, Any]]) -> Heard:
    lines, log = _recorder()
    config = system.call_config(to_number=to_number, from_number=CALLER, log=log)
    scenario = Scenario.from_dict(scenario_dict(turns), base_dir=SAMPLES)
    return await _heard(system, await CallSimulator(config).run(scenario), lines)


def question_turns(question: Path) -> list[dict[str, Any]]:
    return [
        {"say": ASK_MESSAGE, "wav": str(question)},
        {"dtmf": "1"},
        {"say": ASK_PERSON, "wav": "turn1_opening_hours.wav"},
        {"say": ONE_MORE, "wav": "turn3_one_more_thing.wav", "after": {"barge_in_ms": BARGE_IN_MS}},
        {"hangup": True},
    ]


async def question_call(
    system: RunningStack, agents: dict[str, Child], turns: list[dict[str, Any]]
) -> tuple[Heard, str, str, datetime]:
    """The question call; its agent is killed (SIGKILL, a crash) as the caller starts to ask."""
    speaking = asyncio.Event()
    lines, log = _recorder("turn 1: caller says", speaking)
    config = system.call_config(to_number=DESK.phone_numbers[0], from_number=CALLER, log=log)
    scenario = Scenario.from_dict(scenario_dict(turns), base_dir=SAMPLES)
    run = asyncio.create_task(CallSimulator(config).run(scenario))
    waiting = asyncio.create_task(speaking.wait())
    try:

        def streaming(record: CallRecord) -> bool:
            return record.state == CallState.STREAMING and record.agent_id is not None

        record = await record_when(system.stack.nats_url, config.call_sid, streaming, "streaming")
        lost = str(record.agent_id)
        (new,) = set(agents) - {lost}
        done, _ = await asyncio.wait(
            {run, waiting}, timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        assert waiting in done, "the caller never started to speak:\n" + "\n".join(
            line for _, line in lines
        )
        killed_at = datetime.now(UTC)
        await agents[lost].kill()
        result = await run
    finally:
        for task in (run, waiting):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return await _heard(system, result, lines), lost, new, killed_at
