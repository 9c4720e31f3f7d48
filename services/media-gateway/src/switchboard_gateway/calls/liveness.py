"""Which agent processes are alive, from their heartbeats."""

from __future__ import annotations

import time
from collections.abc import Callable


class AgentLiveness:
    """An agent is alive while its last beat is younger than ``missed_beats`` of its own
    announced interval. An agent never heard from counts as alive for one grace period after
    it took a call (its first beat may still be on the way)."""

    def __init__(self, missed_beats: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._missed_beats = missed_beats
        self._clock = clock
        self._deadline: dict[str, float] = {}

    def beat(self, agent_id: str, interval_s: float) -> None:
        self._deadline[agent_id] = self._clock() + interval_s * self._missed_beats

    def expect(self, agent_id: str, grace_s: float) -> None:
        """A call was just handed to ``agent_id``: give it ``grace_s`` before judging it."""
        self._deadline[agent_id] = max(self._deadline.get(agent_id, 0.0), self._clock() + grace_s)

    def alive(self, agent_id: str) -> bool:
        return self._clock() < self._deadline.get(agent_id, 0.0)

    def forget_dead(self) -> None:
        now = self._clock()
        for agent_id in [a for a, d in self._deadline.items() if d <= now]:
            del self._deadline[agent_id]
