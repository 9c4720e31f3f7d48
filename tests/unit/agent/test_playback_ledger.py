"""Where to truncate on a barge-in: what was played, clamped to what was produced."""

from __future__ import annotations

from switchboard_agent.playback import AudioLedger, truncation_for


def _ledger_with(item: str, chunks: int, chunk_bytes: int = 800) -> AudioLedger:
    ledger = AudioLedger()
    for _ in range(chunks):
        ledger.record(item, chunk_bytes)  # 100 ms each
    return ledger


def test_chunks_are_numbered_across_items() -> None:
    ledger = AudioLedger()
    assert ledger.record("i1", 160) == 0
    assert ledger.record("i1", 160) == 1
    assert ledger.record("i2", 160) == 2
    assert ledger.current_item == "i2"
    assert ledger.produced_ms("i1") == 40.0


def test_truncate_at_played_position_with_interpolation() -> None:
    ledger = _ledger_with("i1", 10)  # 1000 ms produced
    decision = truncation_for(ledger, "i1", last_chunk=2, ms_into_next=35.0)
    assert decision.audio_end_ms == 335


def test_nothing_played_truncates_at_zero() -> None:
    ledger = _ledger_with("i1", 10)
    assert truncation_for(ledger, "i1", last_chunk=-1, ms_into_next=0.0).audio_end_ms == 0


def test_playback_finished_means_no_truncate() -> None:
    ledger = _ledger_with("i1", 10)
    assert truncation_for(ledger, "i1", last_chunk=9, ms_into_next=0.0).audio_end_ms is None


def test_interpolation_is_clamped_to_the_chunk_and_to_production() -> None:
    ledger = _ledger_with("i1", 3)  # 300 ms
    decision = truncation_for(ledger, "i1", last_chunk=1, ms_into_next=10_000.0)
    assert decision.audio_end_ms is None or decision.audio_end_ms <= 300
    assert decision.produced_ms == 300.0


def test_previous_items_do_not_count_for_the_current_one() -> None:
    ledger = AudioLedger()
    for _ in range(5):
        ledger.record("old", 800)
    for _ in range(5):
        ledger.record("new", 800)
    # The caller heard all of "old" and 50 ms of "new"'s first chunk.
    decision = truncation_for(ledger, "new", last_chunk=4, ms_into_next=50.0)
    assert decision.audio_end_ms == 50
