from __future__ import annotations

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
