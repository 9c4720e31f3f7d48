"""One fault, end to end: a fresh stack, calls placed a little apart, the fault injected
mid-conversation, then every call's outcome, its stored events and what was left open."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from switchboard_common.event_stream import by_type
from switchboard_common.events import ToolCalledEvent
from switchboard_common.messages import CallState
from switchboard_sim.call import CallConfig, CallResult, CallSimulator, Scenario
from switchboard_sim.stack import LocalStack

from . import calls as call_checks
from .faults import Fault, Rig, Scene, build
from .probes import Probe, check_events

#: Sessions and agent slots may outlive their call by at most this much (issue 11, item 5).
LINGER_S = 10.0
#: Calls arrive this far apart, so the fault finds them at different points of the talk.
STAGGER_S = 0.3
START_BOUND_S = 60.0
#: How far into the greeting the last call is when the fault comes (the greeting lasts about
#: 5 s; the first call is then about STAGGER_S x calls further in).
INTO_GREETING_MS = 1000


@dataclass
class CallOutcome:
    call_id: str
    hit: bool
    survived: bool
    #: Whether the media stream lasted to the caller's goodbye (else the line went dead).
    stayed_up: bool
    silence_s: float
    turns_lost: int
    missing: int
    duplicated: int
    ended_reason: str
    record_state: str
    errors: list[str] = field(default_factory=list)


@dataclass
class FaultRun:
    fault: Fault
    outcomes: list[CallOutcome]
    sessions_open: int
    slots_open: int
    #: Seconds from the start to each phase's end (stack started, fault injected, ...).
    phases: dict[str, float]


async def place_calls(
    rig: Rig, plan: Scenario, count: int
) -> tuple[dict[str, str], list[tuple[CallSimulator, asyncio.Task[CallResult]]]]:
    """Start ``count`` calls, round-robin over the gateways, :data:`STAGGER_S` apart."""
    stack = rig.stack
    placed: dict[str, str] = {}
    running: list[tuple[CallSimulator, asyncio.Task[CallResult]]] = []
    for i in range(count):
        gateway = rig.gateways[i % len(rig.gateways)]
        config = CallConfig(
            gateway_url=gateway.announced,
            public_base_url=stack.public_base_url,
            auth_token=stack.auth_token,
            account_sid=stack.account_sid,
            rest_api=stack.twilio_rest,
            record=True,
            max_call_s=120.0,
        )
        simulator = CallSimulator(config)
        running.append((simulator, asyncio.create_task(simulator.run(plan))))
        placed[config.call_sid] = gateway.name
        await asyncio.sleep(STAGGER_S)  # arrivals spread over time: load shape, not a wait
    return placed, running


async def run_fault(fault: Fault, count: int = 10, spoken_turns: int = 2) -> FaultRun:
    began = time.monotonic()
    plan = call_checks.scenario(spoken_turns)
    async with LocalStack() as stack:
        rig = await build(stack, fault)
        phases = {"started": time.monotonic() - began}
        probe = await Probe.open(rig.harness_url, stack.realtime_url)
        running: list[tuple[CallSimulator, asyncio.Task[CallResult]]] = []
        try:
            placed, running = await place_calls(rig, plan, count)
            await probe.wait_streaming(list(placed), START_BOUND_S)
            if fault.mid_greeting:
                await probe.wait_sessions_speaking(count, INTO_GREETING_MS, START_BOUND_S)
            phases["injected"] = time.monotonic() - began
            callers = [simulator for simulator, _ in running]
            hit = await fault.inject(Scene(rig, probe, placed, callers))
            results = await asyncio.gather(*(task for _, task in running))
            ended_at = time.monotonic()
            phases["calls ended"] = ended_at - began
            outcomes: list[CallOutcome] = []
            for (simulator, _), result in zip(running, results, strict=True):
                call_id = result.call_sid
                events = await probe.events(
                    call_id, max(0.5, ended_at + LINGER_S - time.monotonic())
                )
                if hit.calls is None:
                    is_hit = any(
                        t.name == "query_knowledge_base" and not t.ok
                        for t in by_type(events, ToolCalledEvent)
                    )
                else:
                    is_hit = call_id in hit.calls
                t0 = simulator.clock.t0
                checked = check_events(events)
                record = await probe.record(call_id)
                outcomes.append(
                    CallOutcome(
                        call_id=call_id,
                        hit=is_hit,
                        survived=call_checks.survived(result, plan),
                        stayed_up=result.closed_by == "caller",
                        silence_s=call_checks.caller_silence(
                            result, plan, hit.started - t0, hit.over - t0, fault.cuts_audio
                        ),
                        turns_lost=call_checks.turns_lost(result, plan),
                        missing=checked.missing,
                        duplicated=checked.duplicated,
                        ended_reason=checked.ended_reason,
                        record_state=record.state.value if record else "missing",
                        errors=list(result.errors),
                    )
                )
            sessions_open, slots_open = await probe.left_open(ended_at, LINGER_S)
            phases["checked"] = time.monotonic() - began
            return FaultRun(fault, outcomes, sessions_open, slots_open, phases)
        finally:
            for _, task in running:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*(task for _, task in running), return_exceptions=True)
            await probe.close()


def records_open(run: FaultRun) -> int:
    return sum(o.record_state != CallState.ENDED.value for o in run.outcomes)
