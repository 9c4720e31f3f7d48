"""What ``make chaos`` counts, on made-up calls: the silence a fault caused (not the caller's
own speech, nor its wait before the goodbye), and the gaps and duplicates in stored events."""

from __future__ import annotations

from bench.chaos.calls import PAUSE_MS, QUIET_MS, caller_silence, scenario, survived
from bench.chaos.probes import check_events
from switchboard_common.audio import FRAME_BYTES, ULAW_SILENCE
from switchboard_common.events import CallEndedEvent, CallerTurnEvent
from switchboard_sim.call import CallResult, TurnLatency

CALL = "CA" + "0" * 32
LOUD = bytes([0x00])  # a μ-law byte at full scale: speech to the is_speech test


def heard(*parts: tuple[str, float]) -> bytes:
    """A recording from ("speech" | "quiet", seconds) parts."""
    frames = b""
    for kind, seconds in parts:
        byte = LOUD if kind == "speech" else bytes([ULAW_SILENCE])
        frames += byte * (round(seconds * 50) * FRAME_BYTES)
    return frames


def call(recording: bytes, said_at: float | None = None, speech_end: float = 0.0) -> CallResult:
    result = CallResult(call_sid=CALL, account_sid="AC" + "0" * 32, recording=recording)
    if said_at is not None:
        result.log.append(f"[{said_at:6.2f}s] turn 1: caller says 'Hi'")
        result.latencies.append(TurnLatency(1, speech_end, 500.0))
    return result


def test_a_cut_answer_counts_its_whole_silence() -> None:
    result = call(heard(("speech", 1.0), ("quiet", 1.2), ("speech", 1.0)))
    assert abs(caller_silence(result, scenario(1), 1.1, 1.1) - 1.2) < 0.03


def test_the_caller_s_own_speech_and_wait_are_not_silence() -> None:
    # The agent is quiet from 1 s to 6 s; the caller spoke from 3 s to 5.5 s within it.
    result = call(heard(("speech", 1.0), ("quiet", 5.0), ("speech", 1.0)), 3.0, 5.5)
    assert abs(caller_silence(result, scenario(1), 1.5, 1.5) - 0.5) < 0.03


def test_the_wait_before_the_goodbye_of_a_completed_call_is_not_silence() -> None:
    wait = (QUIET_MS + PAUSE_MS) / 1000
    plan = scenario(1)
    recording = heard(("speech", 1.0), ("quiet", 0.5), ("speech", 1.0), ("quiet", wait + 0.3))
    result = call(recording, 1.0, 1.2)
    result.closed_by, result.turns_completed = "caller", len(plan.turns)
    assert survived(result, plan)
    assert abs(caller_silence(result, plan, 2.6, 2.6) - 0.3) < 0.03


def test_gaps_duplicates_and_a_missing_end_are_counted() -> None:
    def turn(seq: int) -> CallerTurnEvent:
        return CallerTurnEvent(call_id=CALL, business_id="b", seq=seq, text="hi")

    ended = CallEndedEvent(
        call_id=CALL, business_id="b", seq=5, duration_s=1, caller_turns=3, agent_turns=0
    )
    broken = check_events([turn(1), turn(2), turn(2), turn(4)])
    assert (broken.missing, broken.duplicated, broken.ended_reason) == (2, 1, "")
    whole = check_events([turn(1), turn(2), turn(3), turn(4), ended, ended])
    assert (whole.missing, whole.duplicated) == (0, 2)


def test_a_reply_the_fault_cut_counts_until_the_caller_gives_up_and_speaks() -> None:
    # The agent's voice stops at 1 s, as the fault comes; the caller speaks at 3.8 s.
    result = call(heard(("speech", 1.0), ("quiet", 5.0), ("speech", 1.0)), 3.8, 5.5)
    plan = scenario(1)
    assert abs(caller_silence(result, plan, 1.0, 1.0) - 2.8) < 0.03
    # A hung tool backend cannot cut a reply: the caller's wait is then not the fault's.
    assert abs(caller_silence(result, plan, 1.0, 1.0, cuts_audio=False) - 0.5) < 0.03
