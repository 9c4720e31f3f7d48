"""The playback tracker: what the caller heard, from marks and the clock."""

from __future__ import annotations

from switchboard_gateway.calls.playback import PlaybackTracker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_marks_advance_playback_and_report_idle() -> None:
    clock = Clock()
    tracker = PlaybackTracker(clock)
    tracker.sent(0, 20)
    tracker.sent(1, 20)
    assert not tracker.idle
    assert tracker.played(0) is False
    assert tracker.played(1) is True
    assert tracker.idle
    assert tracker.position() == (1, 0.0)


def test_position_interpolates_inside_the_chunk_being_played() -> None:
    clock = Clock()
    tracker = PlaybackTracker(clock)
    tracker.sent(0, 100)
    tracker.sent(1, 100)
    clock.now += 0.100
    tracker.played(0)
    clock.now += 0.040
    last, into = tracker.position()
    assert last == 0
    assert abs(into - 40.0) < 1e-6
    clock.now += 1.0  # long after: everything sent is presumed heard
    assert tracker.position() == (1, 0.0)


def test_position_runs_across_chunks_that_carry_no_mark() -> None:
    """Marks need not follow every chunk: the clock replays the unconfirmed ones in order."""
    clock = Clock()
    tracker = PlaybackTracker(clock)
    for seq in range(5):
        tracker.sent(seq, 20)  # a burst of 100 ms, only the last one marked
    clock.now += 0.050
    last, into = tracker.position()
    assert last == 1
    assert abs(into - 10.0) < 1e-6
    clock.now += 0.040
    assert tracker.played(4) is True  # Twilio reached the mark: all played
    assert tracker.position() == (4, 0.0)


def test_a_chunk_sent_after_silence_starts_playing_when_sent() -> None:
    clock = Clock()
    tracker = PlaybackTracker(clock)
    tracker.sent(0, 20)
    tracker.played(0)
    clock.now += 5.0  # long pause, then a new reply
    tracker.sent(1, 200)
    clock.now += 0.050
    last, into = tracker.position()
    assert last == 0
    assert abs(into - 50.0) < 1e-6


def test_marks_returned_by_a_clear_do_not_count_as_played() -> None:
    clock = Clock()
    tracker = PlaybackTracker(clock)
    for seq in range(5):
        tracker.sent(seq, 20)
    tracker.played(1)
    assert tracker.cleared()[0] == 1
    assert tracker.idle
    # Twilio now returns marks 2..4 although they were never heard.
    for seq in (2, 3, 4):
        assert tracker.played(seq) is False
    assert tracker.last_played == 1
    tracker.sent(5, 20)
    assert tracker.played(4) is False
    assert not tracker.idle
