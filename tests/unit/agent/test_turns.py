"""An agent turn is final only once we know how much of it the caller heard."""

from __future__ import annotations

from switchboard_agent.playback import AudioLedger
from switchboard_agent.turns import AgentTurns

Final = tuple[str, str, bool, int | None, int]


def _setup() -> tuple[AudioLedger, AgentTurns, list[Final]]:
    ledger = AudioLedger()
    finals: list[Final] = []
    turns = AgentTurns(ledger, lambda *args: finals.append(args))
    return ledger, turns, finals


def test_a_reply_is_final_when_playback_reaches_its_last_chunk() -> None:
    ledger, turns, finals = _setup()
    for _ in range(3):
        ledger.record("i1", 800)  # 3 chunks of 100 ms, seq 0..2
    turns.spoken("i1", "Hello")
    turns.played_through(1)
    assert finals == []
    turns.played_through(2)
    assert finals == [("Hello", "i1", False, 300, 300)]
    assert turns.count == 1


def test_a_barge_in_makes_the_reply_final_where_it_was_cut() -> None:
    ledger, turns, finals = _setup()
    for _ in range(5):
        ledger.record("old", 800)
    for _ in range(5):
        ledger.record("new", 800)
    turns.spoken("old", "First")
    turns.spoken("new", "Second")
    turns.cut("new", 150)
    assert finals == [("First", "old", False, 500, 500), ("Second", "new", True, 150, 500)]


def test_a_cut_before_the_model_finished_waits_for_its_text() -> None:
    ledger, turns, finals = _setup()
    ledger.record("i1", 800)
    turns.cut("i1", 40)
    assert finals == []
    turns.spoken("i1", "Partial")
    assert finals == [("Partial", "i1", True, 40, 100)]


def test_a_barge_in_after_playback_finished_is_not_an_interruption() -> None:
    ledger, turns, finals = _setup()
    ledger.record("i1", 800)
    turns.spoken("i1", "Done")
    turns.cut("i1", None)
    assert finals == [("Done", "i1", False, 100, 100)]


def test_leftovers_at_the_end_of_the_call_have_unknown_playback() -> None:
    ledger, turns, finals = _setup()
    ledger.record("i1", 800)
    turns.spoken("i1", "Bye")
    turns.flush()
    assert finals == [("Bye", "i1", False, None, 100)]
