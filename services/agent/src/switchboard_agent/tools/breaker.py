"""A circuit breaker per tool backend: after repeated failures, fail fast instead of making
every caller wait for a backend that is not answering.

closed --(``failures`` consecutive failures within ``window_s``)--> open
open --(``cooldown_s`` later, on the next call)--> half-open: one trial call goes through
half-open --(trial succeeds)--> closed; --(trial fails)--> open again

The breaker is shared by every call an agent process serves (a dead backend is dead for all of
them). It keeps no task and no timer: time is read from an injected clock when a call asks,
so its state machine is tested without sleeping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerPolicy(BaseModel):
    """When a backend is given up on, and for how long."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    failures: int = Field(
        3, ge=1, description="Consecutive failures (within the window) that open the breaker."
    )
    window_s: float = Field(
        30.0, gt=0, description="Failures further apart than this do not add up."
    )
    cooldown_s: float = Field(
        15.0, gt=0, description="How long the breaker stays open before one trial call."
    )


#: Told about every state change: (backend, old state, new state).
Transition = Callable[[str, BreakerState, BreakerState], None]


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to call the backend once; report how it went with exactly one of
    :meth:`CircuitBreaker.succeeded`, :meth:`~CircuitBreaker.failed` or
    :meth:`~CircuitBreaker.abandoned`."""

    trial: bool


class CircuitBreaker:
    def __init__(
        self,
        backend: str,
        policy: BreakerPolicy,
        clock: Clock = time.monotonic,
        on_transition: Transition | None = None,
    ) -> None:
        self.backend = backend
        self.policy = policy
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._first_failure_at = 0.0
        self._opened_at = 0.0
        self._trial_out = False

    @property
    def state(self) -> BreakerState:
        """The state as of now (an open breaker whose cool-down is over reads half-open)."""
        if self._state is BreakerState.OPEN and self._cooled_down():
            self._move(BreakerState.HALF_OPEN)
        return self._state

    def acquire(self) -> Permit | None:
        """Leave to call the backend, or None: fail fast without calling it."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Permit(trial=False)
        if state is BreakerState.HALF_OPEN and not self._trial_out:
            self._trial_out = True
            return Permit(trial=True)
        return None

    def succeeded(self, permit: Permit) -> None:
        """The backend answered: it is alive."""
        if permit.trial:
            self._trial_out = False
        self._failures = 0
        if self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED)

    def failed(self, permit: Permit) -> None:
        """The backend did not answer, or answered that it is broken."""
        now = self._clock()
        if permit.trial:
            self._trial_out = False
            self._open(now)
            return
        if self._state is not BreakerState.CLOSED:
            return  # a call from before the breaker opened: it is open already
        if self._failures == 0 or now - self._first_failure_at > self.policy.window_s:
            self._failures, self._first_failure_at = 0, now
        self._failures += 1
        if self._failures >= self.policy.failures:
            self._open(now)

    def abandoned(self, permit: Permit) -> None:
        """The call ended without telling anything about the backend (bad arguments from the
        model, the call hung up): a trial slot is given back for the next call."""
        if permit.trial:
            self._trial_out = False

    def _cooled_down(self) -> bool:
        return self._clock() - self._opened_at >= self.policy.cooldown_s

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._failures = 0
        self._move(BreakerState.OPEN)

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is new:
            return
        log.warning("tool backend %s: circuit breaker %s -> %s", self.backend, old, new)
        if self._on_transition is not None:
            self._on_transition(self.backend, old, new)
