"""The calls a chaos run places, and what each one tells about the fault: did it reach the
caller's own goodbye, how long the caller sat in silence, which turns went unanswered.

Silence is measured on the audio the caller heard (the call's recording), as the resilience
tests do (:mod:`switchboard_sim.call.heard`), with two parts of a quiet stretch left out
because the fault did not cause them: the caller's own speech (the agent is quiet while the
caller talks) and, at the end of a completed call, the caller's wait before its goodbye.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchboard_common.audio import FRAME_BYTES, SAMPLE_RATE
from switchboard_sim.call import CallResult, Scenario
from switchboard_sim.call.heard import FRAME_S, quiet_stretches

SAMPLES = Path(__file__).resolve().parents[2] / "simulators" / "samples"
#: The model's side: the same tool calls as the sample call, with short answers (calls stay short).
REALTIME_SCRIPT = Path(__file__).with_name("realtime.json")

#: How long the caller waits in silence before taking the agent to be done: longer than any
#: target pause, so a reply that is late shows as silence, not as a caller who moved on.
QUIET_MS = 2500
PAUSE_MS = 300
#: The caller's turns: a question that needs the knowledge base, then one that needs a tool
#: with a longer answer, then the goodbye.
TURNS: tuple[dict[str, Any], ...] = (
    {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
    {"say": "Could you take a message?", "wav": "turn2_message.wav"},
)

_SAYS = re.compile(r"^\[\s*([0-9.]+)s\] turn (\d+): caller says")


def scenario(spoken_turns: int = 2) -> Scenario:
    """The chaos call: the greeting, ``spoken_turns`` questions, each waiting for the whole
    answer, then the caller hangs up."""
    turns: list[dict[str, Any]] = [dict(t, after="agent_done") for t in TURNS[:spoken_turns]]
    turns.append({"hangup": True, "after": "agent_done"})
    body = {
        "name": f"chaos-{spoken_turns}",
        "agent_timeout_s": 12,
        "quiet_ms": QUIET_MS,
        "pause_ms": PAUSE_MS,
        "turns": turns,
    }
    return Scenario.from_dict(body, base_dir=SAMPLES)


@dataclass(frozen=True)
class Spoken:
    """One caller turn as it happened, in call seconds."""

    turn: int
    start_s: float
    end_s: float
    answered: bool


def spoken_turns(result: CallResult, plan: Scenario) -> list[Spoken]:
    """The turns the caller spoke, from its log, with the end of speech and whether any agent
    audio came after it."""
    latencies = {lat.turn: lat for lat in result.latencies}
    spoken: list[Spoken] = []
    for line in result.log:
        match = _SAYS.match(line)
        if match is None:
            continue
        start, number = float(match[1]), int(match[2])
        utterance = plan.turns[number - 1].utterance
        assert utterance is not None
        latency = latencies.get(number)
        end = (
            latency.speech_end_s
            if latency is not None
            else start + (utterance.speech_end + 1) * FRAME_BYTES / SAMPLE_RATE
        )
        spoken.append(Spoken(number, start, end, latency is not None))
    return spoken


def survived(result: CallResult, plan: Scenario) -> bool:
    """The call went on to the caller's own goodbye, every turn answered."""
    return (
        result.ok
        and result.closed_by == "caller"
        and result.turns_completed == len(plan.turns)
        and all(s.answered for s in spoken_turns(result, plan))
    )


def turns_lost(result: CallResult, plan: Scenario) -> int:
    """Caller turns that no agent audio followed."""
    return sum(not s.answered for s in spoken_turns(result, plan))


def caller_silence(
    result: CallResult, plan: Scenario, start_s: float, end_s: float, cuts_audio: bool = True
) -> float:
    """The longest silence the caller heard that touches the fault (``start_s`` to ``end_s``
    plus half a second, in call seconds), not counting the caller's own speech or its wait
    before the goodbye of a call that completed. When ``cuts_audio``, a silence that began as
    the fault came (the agent's voice stopped) counts up to the moment the caller gave up
    waiting and spoke: what the caller heard was a dead line, not a finished reply."""
    recording = result.recording or b""
    total_s = len(recording) / SAMPLE_RATE
    spoken = spoken_turns(result, plan)
    goodbye_wait_s = (QUIET_MS + PAUSE_MS) / 1000 if survived(result, plan) else 0.0
    worst = 0.0
    for quiet in quiet_stretches(recording, min_s=FRAME_S):
        if quiet.start_s > end_s + 0.5 or quiet.end_s < start_s:
            continue
        inside = [s.end_s for s in spoken if quiet.start_s <= s.end_s <= quiet.end_s]
        length = quiet.end_s - max([quiet.start_s, *inside])
        if not inside and quiet.end_s >= total_s - FRAME_S:
            length -= goodbye_wait_s
        if cuts_audio and start_s - FRAME_S <= quiet.start_s <= start_s + 0.5:
            began = [s.start_s for s in spoken if quiet.start_s <= s.start_s <= quiet.end_s]
            length = max(length, min(began, default=quiet.end_s) - quiet.start_s)
        worst = max(worst, length)
    return max(worst, 0.0)
