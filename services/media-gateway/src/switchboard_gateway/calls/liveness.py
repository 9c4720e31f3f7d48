"""Which agent processes are alive, from their heartbeats."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection


class AgentLiveness:
    """An agent is alive while its last beat is younger than ``missed_beats`` of its own
    announced interval. An agent never heard from counts as alive for one grace period after
    it took a call (its first beat may still be on the way).

    Each beat also says how many more calls the agent has room for, which is how a call moved
    off a lost agent picks its next one (:meth:`takers`).

    Silence means something only while beats could reach us: between :meth:`bus_lost` and
    :meth:`bus_back` (our own connection to the bus is down) no agent is judged, and on the way
    back every agent gets its whole window again, counted from then, before it can be judged.
    """

    def __init__(self, missed_beats: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._missed_beats = missed_beats
        self._clock = clock
        self._deadline: dict[str, float] = {}
        #: Each agent's window: missed_beats of its interval, or the grace it was given.
        self._window: dict[str, float] = {}
        self._bus_down = False
        #: Calls each agent had room for at its last beat (absent: never said).
        self._room: dict[str, int] = {}

    def beat(self, agent_id: str, interval_s: float, room: int | None = None) -> None:
        window = interval_s * self._missed_beats
        self._window[agent_id] = window
        self._deadline[agent_id] = self._clock() + window
        if room is not None:
            self._room[agent_id] = room

    def takers(self, exclude: Collection[str] = (), rng: random.Random | None = None) -> list[str]:
        """The agents to offer a call to, in order: alive now, not in ``exclude`` (the lost
        agent, or those already tried), with room at their last beat. Drawn at random weighted
        by room, so that calls offered by several gateways at once (the calls of one lost agent,
        a burst of new ones) spread rather than all try the emptiest agent first: each agent's
        key is ``u ** (1 / room)``, largest first."""
        draw = (rng or random).random
        now = self._clock()
        keyed = [
            (draw() ** (1.0 / room), agent_id)
            for agent_id, room in self._room.items()
            if agent_id not in exclude
            and room > 0
            and (self._bus_down or now < self._deadline.get(agent_id, 0.0))
        ]
        return [agent_id for _, agent_id in sorted(keyed, reverse=True)]

    def expect(self, agent_id: str, grace_s: float) -> None:
        """A call was just handed to ``agent_id``: give it ``grace_s`` before judging it, and
        count the call against its room until its next beat says how much is left."""
        if agent_id in self._room:
            self._room[agent_id] = max(self._room[agent_id] - 1, 0)
        self._window[agent_id] = max(self._window.get(agent_id, 0.0), grace_s)
        self._deadline[agent_id] = max(self._deadline.get(agent_id, 0.0), self._clock() + grace_s)

    @property
    def judging(self) -> bool:
        """False while our own bus connection is down: no agent is judged then."""
        return not self._bus_down

    def bus_lost(self) -> None:
        """Our connection to the bus is down: heartbeats cannot reach us, so stop judging."""
        self._bus_down = True

    def bus_back(self) -> None:
        """Our connection is back (or was found to work again): judge again, but only after
        each agent has had its whole window, from now, to be heard."""
        self._bus_down = False
        now = self._clock()
        for agent_id, window in self._window.items():
            self._deadline[agent_id] = max(self._deadline.get(agent_id, 0.0), now + window)

    def alive(self, agent_id: str) -> bool:
        if self._bus_down:
            return True
        return self._clock() < self._deadline.get(agent_id, 0.0)

    def forget_dead(self) -> None:
        if self._bus_down:
            return
        now = self._clock()
        for agent_id in [a for a, d in self._deadline.items() if d <= now]:
            del self._deadline[agent_id]
            self._window.pop(agent_id, None)
            self._room.pop(agent_id, None)
