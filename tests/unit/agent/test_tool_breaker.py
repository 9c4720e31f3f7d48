"""The circuit breaker's state machine, on an injected clock (no sleeping), and what the
registry does with it: a backend given up on fails at once, in plain words."""

from __future__ import annotations

import asyncio
import json

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from switchboard_agent.tools import ToolContext, ToolRegistry
from switchboard_agent.tools.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from switchboard_agent.tools.failures import FailureKind, ToolFailure
from switchboard_common.business import DEMO_BUSINESS

POLICY = BreakerPolicy(failures=3, window_s=10.0, cooldown_s=5.0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _breaker(clock: Clock, seen: list[tuple[BreakerState, BreakerState]]) -> CircuitBreaker:
    return CircuitBreaker("kb", POLICY, clock, lambda _b, old, new: seen.append((old, new)))


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        permit = breaker.acquire()
        assert permit is not None
        breaker.failed(permit)


def test_consecutive_failures_open_it_and_then_it_fails_fast() -> None:
    clock, seen = Clock(), []
    breaker = _breaker(clock, seen)
    _fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    _fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN
    assert breaker.acquire() is None
    assert seen == [(BreakerState.CLOSED, BreakerState.OPEN)]


def test_a_success_resets_the_count() -> None:
    clock, seen = Clock(), []
    breaker = _breaker(clock, seen)
    _fail(breaker, 2)
    permit = breaker.acquire()
    assert permit is not None
    breaker.succeeded(permit)
    _fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED


def test_failures_further_apart_than_the_window_do_not_add_up() -> None:
    clock, seen = Clock(), []
    breaker = _breaker(clock, seen)
    _fail(breaker, 2)
    clock.now += POLICY.window_s + 0.1
    _fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    _fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN


def test_after_the_cooldown_one_trial_goes_through_and_its_success_closes_it() -> None:
    clock, seen = Clock(), []
    breaker = _breaker(clock, seen)
    _fail(breaker, 3)
    clock.now += POLICY.cooldown_s - 0.01
    assert breaker.acquire() is None
    clock.now += 0.01
    trial = breaker.acquire()
    assert trial is not None and trial.trial
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.acquire() is None, "only one trial at a time"
    breaker.succeeded(trial)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.acquire() is not None
    assert seen == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_a_failed_trial_opens_it_for_another_cooldown() -> None:
    clock, seen = Clock(), []
    breaker = _breaker(clock, seen)
    _fail(breaker, 3)
    clock.now += POLICY.cooldown_s
    trial = breaker.acquire()
    assert trial is not None
    clock.now += 1.0
    breaker.failed(trial)
    assert breaker.state is BreakerState.OPEN
    clock.now += POLICY.cooldown_s - 0.5
    assert breaker.acquire() is None
    clock.now += 0.5
    assert breaker.acquire() is not None


def test_an_abandoned_trial_gives_the_slot_back() -> None:
    clock, seen = Clock(), []
    breaker = _breaker(clock, seen)
    _fail(breaker, 3)
    clock.now += POLICY.cooldown_s
    trial = breaker.acquire()
    assert trial is not None
    breaker.abandoned(trial)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.acquire() is not None


def test_a_late_failure_from_before_it_opened_does_not_restart_the_cooldown() -> None:
    clock, seen = Clock(), []
    breaker = _breaker(clock, seen)
    slow = breaker.acquire()
    assert slow is not None
    _fail(breaker, 3)
    clock.now += POLICY.cooldown_s - 1.0
    breaker.failed(slow)
    clock.now += 1.0
    assert breaker.acquire() is not None


def test_the_policy_is_validated() -> None:
    with pytest.raises(ValidationError):
        BreakerPolicy(failures=0)
    with pytest.raises(ValidationError):
        BreakerPolicy(cooldown_s=0)
    with pytest.raises(ValidationError):
        BreakerPolicy.model_validate({"failures": 2, "retries": 1})


# --- in the registry --------------------------------------------------------------------------


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_open_breaker_fails_the_tool_at_once_without_calling_the_backend() -> None:
    clock = Clock()
    registry = ToolRegistry(breaker_policy=POLICY, clock=clock)
    calls: list[str] = []

    @registry.tool(
        "lookup", "d", {"type": "object"}, backend="flaky", failure_words="Could not look up."
    )
    async def lookup(ctx: ToolContext, args: dict[str, object]) -> None:
        calls.append("called")
        raise ToolFailure(FailureKind.UNREACHABLE, "nats: no responders available for request")

    ctx = ToolContext(
        call_id="CA1", business=DEMO_BUSINESS.model_copy(update={"enabled_tools": ["lookup"]})
    )
    fast_before = _metric("switchboard_agent_tool_fast_failures_total", backend="flaky")
    opened_before = _metric(
        "switchboard_agent_tool_breaker_transitions_total", backend="flaky", to="open"
    )
    for _ in range(3):
        result = await registry.run("lookup", "{}", ctx)
        assert result.failure is FailureKind.UNREACHABLE
    assert registry.breaker("flaky").state is BreakerState.OPEN
    fast = await registry.run("lookup", "{}", ctx)
    assert fast.failure is FailureKind.CIRCUIT_OPEN
    assert json.loads(fast.output) == {"status": "unavailable", "error": "Could not look up."}
    assert len(calls) == 3
    assert _metric("switchboard_agent_tool_fast_failures_total", backend="flaky") == fast_before + 1
    assert (
        _metric("switchboard_agent_tool_breaker_transitions_total", backend="flaky", to="open")
        == opened_before + 1
    )
    assert _metric("switchboard_agent_tool_breaker_open", backend="flaky") == 1


async def test_a_tool_cancelled_mid_trial_gives_the_trial_back() -> None:
    clock = Clock()
    registry = ToolRegistry(breaker_policy=POLICY, clock=clock)
    started = asyncio.Event()

    @registry.tool("hang", "d", {"type": "object"}, timeout_s=30, backend="sticky")
    async def hang(ctx: ToolContext, args: dict[str, object]) -> None:
        started.set()
        await asyncio.Event().wait()

    ctx = ToolContext(
        call_id="CA1", business=DEMO_BUSINESS.model_copy(update={"enabled_tools": ["hang"]})
    )
    breaker = registry.breaker("sticky")
    _fail(breaker, 3)
    clock.now += POLICY.cooldown_s
    run = asyncio.create_task(registry.run("hang", "{}", ctx))
    async with asyncio.timeout(5):
        await started.wait()
    assert breaker.acquire() is None  # the trial is out
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert breaker.acquire() is not None
