from __future__ import annotations

import random
from collections import Counter

from switchboard_gateway.calls.liveness import AgentLiveness


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_agent_dies_after_missing_its_beats() -> None:
    clock = Clock()
    liveness = AgentLiveness(missed_beats=3, clock=clock)
    liveness.beat("a1", interval_s=1.0)
    clock.now = 2.9
    assert liveness.alive("a1")
    clock.now = 3.1
    assert not liveness.alive("a1")


def test_an_unknown_agent_is_dead_unless_just_expected() -> None:
    clock = Clock()
    liveness = AgentLiveness(missed_beats=3, clock=clock)
    assert not liveness.alive("new")
    liveness.expect("new", grace_s=5.0)
    clock.now = 4.0
    assert liveness.alive("new")
    clock.now = 5.5
    assert not liveness.alive("new")
    liveness.forget_dead()
    assert not liveness.alive("new")


def test_no_agent_is_judged_while_the_bus_is_down() -> None:
    clock = Clock()
    liveness = AgentLiveness(missed_beats=3, clock=clock)
    liveness.beat("a1", interval_s=1.0)
    liveness.bus_lost()
    clock.now = 10.0  # long past its window: its beats could not reach us
    assert not liveness.judging
    assert liveness.alive("a1")
    liveness.forget_dead()
    assert liveness.alive("a1")


def test_after_the_bus_is_back_every_agent_gets_its_whole_window_again() -> None:
    clock = Clock()
    liveness = AgentLiveness(missed_beats=3, clock=clock)
    liveness.beat("a1", interval_s=1.0)  # window 3 s
    liveness.beat("a2", interval_s=0.2)  # window 0.6 s
    liveness.expect("new", grace_s=5.0)  # never beat: its grace is its window
    liveness.bus_lost()
    clock.now = 10.0
    liveness.bus_back()
    assert liveness.judging
    clock.now = 10.5
    assert liveness.alive("a1") and liveness.alive("a2") and liveness.alive("new")
    clock.now = 10.7
    assert liveness.alive("a1") and not liveness.alive("a2")
    clock.now = 13.1
    assert not liveness.alive("a1") and liveness.alive("new")
    clock.now = 15.1
    assert not liveness.alive("new")


def test_a_beat_after_the_bus_is_back_counts_as_usual() -> None:
    clock = Clock()
    liveness = AgentLiveness(missed_beats=3, clock=clock)
    liveness.beat("a1", interval_s=1.0)
    liveness.bus_lost()
    clock.now = 5.0
    liveness.bus_back()
    clock.now = 6.0
    liveness.beat("a1", interval_s=1.0)
    clock.now = 8.9
    assert liveness.alive("a1")
    clock.now = 9.1
    assert not liveness.alive("a1")


def test_once_an_agent_beats_its_window_is_its_beats_not_its_first_grace() -> None:
    clock = Clock()
    liveness = AgentLiveness(missed_beats=3, clock=clock)
    liveness.expect("a1", grace_s=5.0)
    liveness.beat("a1", interval_s=1.0)
    liveness.bus_lost()
    clock.now = 0.5
    liveness.bus_back()
    clock.now = 3.4
    assert liveness.alive("a1")
    clock.now = 3.6
    assert not liveness.alive("a1")


def test_forgotten_agents_get_no_window_back() -> None:
    clock = Clock()
    liveness = AgentLiveness(missed_beats=3, clock=clock)
    liveness.beat("gone", interval_s=1.0)
    clock.now = 4.0
    liveness.forget_dead()
    liveness.bus_lost()
    liveness.bus_back()
    assert not liveness.alive("gone")


def test_a_lost_agent_s_call_is_offered_only_to_live_agents_with_room() -> None:
    clock = Clock()
    liveness = AgentLiveness(missed_beats=3, clock=clock)
    liveness.beat("lost", interval_s=1.0, room=5)
    liveness.beat("full", interval_s=1.0, room=0)
    liveness.beat("quiet", interval_s=0.5, room=5)  # its window ends at 1.5 s
    liveness.beat("free", interval_s=1.0, room=2)
    liveness.beat("unsaid", interval_s=1.0)  # an agent whose room is not known yet
    clock.now = 2.0
    assert liveness.takers({"lost"}) == ["free"]
    assert liveness.takers({"lost", "free"}) == []


def test_takers_are_drawn_weighted_by_room_so_many_moves_spread() -> None:
    clock = Clock()
    liveness = AgentLiveness(missed_beats=3, clock=clock)
    liveness.beat("roomy", interval_s=1.0, room=9)
    liveness.beat("tight", interval_s=1.0, room=1)
    rng = random.Random(7)
    firsts = Counter(liveness.takers((), rng)[0] for _ in range(2000))
    assert set(liveness.takers((), rng)) == {"roomy", "tight"}
    # With keys u ** (1 / room), the roomy agent comes first 9 times in 10.
    assert 0.87 < firsts["roomy"] / 2000 < 0.93, firsts
