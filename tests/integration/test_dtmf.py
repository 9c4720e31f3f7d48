"""Key presses reach the model, which answers them."""

from __future__ import annotations

import pytest

from switchboard_sim.call import CallSimulator, Scenario

from .conftest import SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(90)


async def test_a_key_press_reaches_the_model_and_gets_an_answer(system: RunningStack) -> None:
    scenario = scenario_dict([{"dtmf": "7"}, {"hangup": True, "after": "agent_done"}])
    result = await CallSimulator(system.call_config()).run(
        Scenario.from_dict(scenario, base_dir=SAMPLES)
    )
    assert result.ok, result.summary()

    def told_about_the_key(session: dict[str, object]) -> bool:
        events = session["control_events"]
        assert isinstance(events, list)
        return any(
            e.get("type") == "conversation.item.create" and "pressed 7" in str(e) for e in events
        )

    (session,) = [s for s in await system.realtime_sessions() if told_about_the_key(s)]
    types = [e["type"] for e in session["control_events"]]
    told = types.index("conversation.item.create")
    assert "response.create" in types[told + 1 :], "the model was not asked to answer"
    assert session["errors_sent"] == []
    # The answer was spoken to the caller after the key press.
    assert len(result.latencies) >= 1


async def test_a_key_pressed_while_the_agent_speaks_interrupts_it_and_is_answered(
    system: RunningStack,
) -> None:
    """The default (the business's ``keypress_while_speaking``): a key interrupts the agent as
    speech does. The server does not cancel for a key, so the agent cancels, the audio still
    buffered is cleared, and the key is answered at once."""
    scenario = scenario_dict(
        [{"dtmf": "5", "after": {"barge_in_ms": 1000}}, {"hangup": True, "after": "agent_done"}]
    )
    result = await CallSimulator(system.call_config()).run(
        Scenario.from_dict(scenario, base_dir=SAMPLES)
    )
    assert result.ok, result.summary()
    assert result.clears, "the greeting still playing was not cleared"
    sessions = [
        s
        for s in await system.realtime_sessions()
        if any("pressed 5" in str(e) for e in s["control_events"])
    ]
    (session,) = sessions
    types = [e["type"] for e in session["control_events"]]
    told = next(i for i, e in enumerate(session["control_events"]) if "pressed 5" in str(e))
    assert "response.cancel" in types[:told], "the greeting was not stopped"
    assert "response.create" in types[told + 1 :], "the key press was not answered"
    assert session["errors_sent"] == []
    greeting, *_ = session["responses"]
    assert greeting["status"] == "cancelled"
    assert len(session["responses"]) >= 2  # the answer to the key came after
