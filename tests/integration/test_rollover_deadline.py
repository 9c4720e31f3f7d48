"""The agent talks without a pause past the point where its Realtime session should be
replaced: by the rollover deadline, a margin before the provider's cap, the call moves to a
new session anyway. The reply in progress is cut where the caller stopped hearing it, the new
session is given the conversation as heard and answers from there; the caller hears a short
pause, and the provider's cap never cuts the call (issue 14, item 8)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchboard_agent.resume import CUT_MARK
from switchboard_common.event_stream import by_type
from switchboard_common.events import AgentTurnEvent, CallEndedEvent
from switchboard_sim.call import CallSimulator, Scenario
from switchboard_sim.call.heard import quiet_stretches
from switchboard_sim.stack import LocalStack

from .call_probes import events_to_the_end
from .conftest import SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(150)

#: The provider's cap (the simulator enforces it), and the agent's idea of it: the deadline
#: is CAP_S - MARGIN_S = 16 s into the session, the rollover point 10 s.
CAP_S = 22
MARGIN_S = 6
ROLLOVER_S = 10
#: Target: the caller hears at most this much silence across the move.
MAX_SILENCE_S = 1.5
QUESTION = "Hi, what are your opening hours?"
#: About half a minute of speech, streamed in real time (the simulator at speed 1): the
#: agent is still talking at the deadline, with no quiet moment since the rollover point.
LONG_ANSWER = (
    "We are open every day of the week. On Monday, Tuesday and Wednesday the kitchen opens at "
    "eleven in the morning and closes at ten in the evening. On Thursday and Friday we stay "
    "open until midnight, and the bar serves small plates until half past eleven. On Saturday "
    "we open early for brunch at nine, and on Sunday we serve a set lunch from twelve until "
    "four, then dinner until nine. Public holidays follow the Sunday hours, and the terrace "
    "closes an hour earlier when the weather turns. Is there anything else I can help with?"
)


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[RunningStack]:
    script = tmp_path / "long_answer.realtime.json"
    script.write_text(json.dumps({"turns": [{"caller": QUESTION, "agent": LONG_ANSWER}]}))
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(
            script=script, extra=["--max-session-s", str(CAP_S), "--speed", "1"]
        )
        await stack.start_agent(
            "agent-deadline",
            AGENT_REALTIME_SESSION_ROLLOVER_S=str(ROLLOVER_S),
            AGENT_REALTIME_SESSION_CAP_S=str(CAP_S),
            AGENT_REALTIME_ROLLOVER_MARGIN_S=str(MARGIN_S),
        )
        gateway = await stack.start_gateway("gw-deadline")
        yield RunningStack(stack, gateway)


async def test_a_call_with_no_quiet_moment_moves_before_the_cap(system: RunningStack) -> None:
    scenario = scenario_dict(
        [
            {"say": QUESTION, "wav": "turn1_opening_hours.wav"},
            # The caller listens on past the first session's cap (its question ends about 8 s
            # into the call), then hangs up before the second session's deadline.
            {"hangup": True, "after": {"delay_ms": (CAP_S - 4) * 1000}},
        ]
    )
    caller = CallSimulator(system.call_config(record=True))
    result = await caller.run(Scenario.from_dict(scenario, base_dir=SAMPLES))
    async with httpx.AsyncClient() as http:
        sessions: list[dict[str, Any]] = (
            await http.get(f"{system.stack.realtime_url}/_sim/sessions")
        ).json()
    events = await events_to_the_end(system.stack.nats_url, result.call_sid)

    assert result.ok, result.summary()
    assert result.duration_s > CAP_S, "the call must outlast the cap to mean anything"
    opened = [(s["opened_at"], s["closed_at"]) for s in sessions]
    assert len(sessions) == 2, f"one move expected, no reconnect: {opened}"
    first, second = sorted(sessions, key=lambda s: s["opened_at"])
    expired = [e for s in sessions for e in s["errors_sent"] if e.get("code") == "session_expired"]
    assert expired == [], "the provider's cap cut a session: the rollover came too late"
    assert first["closed_at"] - first["opened_at"] < CAP_S
    assert second["opened_at"] < first["closed_at"], "the new session was not ready first"
    assert first["closed_at"] - first["opened_at"] >= CAP_S - MARGIN_S - 1, "moved too early"

    # The move happened mid-answer: the answer was cut where the caller stopped hearing it.
    cut_turns = [t for t in by_type(events, AgentTurnEvent) if t.interrupted]
    assert len(cut_turns) == 1, [t.model_dump() for t in by_type(events, AgentTurnEvent)]
    (cut,) = cut_turns
    assert cut.played_ms is not None and 0 < cut.played_ms < cut.produced_ms
    replayed = [
        part["text"]
        for e in second["control_events"]
        if e["type"] == "conversation.item.create" and e["item"].get("role") == "assistant"
        for part in e["item"]["content"]
    ]
    heard = [text for text in replayed if text.startswith(LONG_ANSWER[:20])]
    assert len(heard) == 1, f"the cut answer was not replayed: {replayed}"
    assert heard[0].endswith(CUT_MARK) and LONG_ANSWER.startswith(heard[0].removesuffix(CUT_MARK))
    kinds = [e["type"] for e in second["control_events"]]
    assert "response.create" in kinds[kinds.index("conversation.item.create") :], (
        "the new session was never asked to go on"
    )

    # What the caller heard across the move: the old session closed when the answer was cut.
    assert result.recording is not None
    moved_s = first["closed_at"] - time.time() + time.monotonic() - caller.clock.t0
    around = [
        q.length_s
        for q in quiet_stretches(result.recording, min_s=0.02)
        if q.start_s <= moved_s + 1.0 and q.end_s >= moved_s - 0.2
    ]
    silence = max(around, default=0.0)
    print(f"caller silence across the rollover: {silence:.2f} s (at {moved_s:.2f} s)")
    assert silence <= MAX_SILENCE_S, f"{silence:.2f} s of silence across the move"
    (ended,) = by_type(events, CallEndedEvent)
    assert ended.reason == "caller_hung_up"
