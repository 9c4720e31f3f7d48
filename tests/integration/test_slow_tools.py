"""Slow or dead tools (issue 11, item 6): a knowledge service that hangs, or is gone, costs the
caller about a second of silence at most, and the model is told what failed in plain words."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from switchboard_common.messages import Speaker, ToolCallEvent, TranscriptEvent
from switchboard_sim.call import CallResult, CallSimulator, Scenario
from switchboard_sim.demo import seed_knowledge
from switchboard_sim.stack import Child, LocalStack

from .conftest import REALTIME_SCRIPT, SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)

#: End of the caller's question to the first agent audio they hear.
SILENCE_LIMIT_MS = 1200
#: Words that would tell the model (and maybe the caller) about the plumbing.
JARGON = ("nats", "no responders", "timeout", "sb.")

#: One question that needs the knowledge base, then the caller waits for the whole answer
#: (a holding phrase, a pause, then the answer count as one reply) and hangs up.
ONE_QUESTION = scenario_dict(
    [
        {"say": "Hi, what are your opening hours?", "wav": "turn1_opening_hours.wav"},
        {"hangup": True, "after": "agent_done"},
    ],
    quiet_ms=2500,
)


@dataclass
class KnowledgeStack:
    system: RunningStack
    knowledge: Child


@pytest.fixture
async def knowledge_stack() -> AsyncIterator[KnowledgeStack]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        knowledge = await stack.start_knowledge()
        await seed_knowledge(stack.nats_url, SAMPLES / "knowledge")
        await stack.start_agent("agent-slow-tools")
        gateway = await stack.start_gateway("gateway-slow-tools")
        yield KnowledgeStack(RunningStack(stack, gateway), knowledge)


async def _ask(system: RunningStack) -> CallResult:
    scenario = Scenario.from_dict(ONE_QUESTION, base_dir=SAMPLES)
    result = await CallSimulator(system.call_config()).run(scenario)
    assert result.ok, result.summary()
    return result


def _silence_ms(result: CallResult) -> float:
    (question,) = [lat for lat in result.latencies if lat.turn == 1]
    return question.latency_ms


async def _model_tool_outputs(system: RunningStack) -> list[str]:
    """What the model was given as function_call_output, as the Realtime simulator saw it."""
    outputs: list[str] = []
    for session in await system.realtime_sessions():
        for event in session["control_events"]:
            item = event.get("item") or {}
            if item.get("type") == "function_call_output":
                outputs.append(str(item["output"]))
    return outputs


def _agent_said(result: CallResult) -> list[str]:
    return [
        e.text
        for e in result.transcript
        if isinstance(e, TranscriptEvent) and e.speaker == Speaker.AGENT
    ]


def _assert_told_plainly(outputs: list[str]) -> None:
    assert len(outputs) == 1, outputs
    told = json.loads(outputs[0])
    assert told["status"] == "unavailable"
    assert "could not be searched" in told["error"]
    for word in JARGON:
        assert word not in outputs[0].casefold(), (word, outputs[0])


async def test_a_hung_knowledge_service_costs_the_caller_about_a_second(
    knowledge_stack: KnowledgeStack,
) -> None:
    system, knowledge = knowledge_stack.system, knowledge_stack.knowledge
    os.kill(knowledge.pid, signal.SIGSTOP)
    try:
        result = await _ask(system)
    finally:
        os.kill(knowledge.pid, signal.SIGCONT)
    silence = _silence_ms(result)
    print(f"hung knowledge service: {silence:.0f} ms of silence after the question")
    assert silence <= SILENCE_LIMIT_MS, result.summary()

    (tool,) = [e for e in result.transcript if isinstance(e, ToolCallEvent)]
    assert tool.name == "query_knowledge_base" and not tool.ok
    _assert_told_plainly(await _model_tool_outputs(system))
    said = _agent_said(result)
    assert "One moment while I check that." in said, said
    assert said.index("One moment while I check that.") < len(said) - 1, "no answer followed"


async def test_a_stopped_knowledge_service_is_answered_at_once_in_plain_words(
    knowledge_stack: KnowledgeStack,
) -> None:
    system, knowledge = knowledge_stack.system, knowledge_stack.knowledge
    await knowledge.stop()
    result = await _ask(system)
    silence = _silence_ms(result)
    print(f"stopped knowledge service: {silence:.0f} ms of silence after the question")
    assert silence <= SILENCE_LIMIT_MS, result.summary()

    (tool,) = [e for e in result.transcript if isinstance(e, ToolCallEvent)]
    assert tool.name == "query_knowledge_base" and not tool.ok
    _assert_told_plainly(await _model_tool_outputs(system))
