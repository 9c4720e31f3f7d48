"""What the caller heard, measured on a call's recording (20 ms μ-law frames on the call's
timeline, silence included): how long the line was quiet around a moment of interest, such as
a fault injected into the system. Used by the tests that bound a caller's silence."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard_common.audio import FRAME_BYTES, SAMPLE_RATE

from .audio import is_speech

FRAME_S = FRAME_BYTES / SAMPLE_RATE


@dataclass(frozen=True)
class Quiet:
    """A stretch of the call with no agent speech, in call seconds."""

    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


def quiet_stretches(recording: bytes, min_s: float = 0.1) -> list[Quiet]:
    """Every stretch of at least ``min_s`` without speech (a pause between words is shorter)."""
    stretches: list[Quiet] = []
    start: int | None = None
    frames = len(recording) // FRAME_BYTES
    for index in range(frames + 1):
        speech = index < frames and is_speech(
            recording[index * FRAME_BYTES : (index + 1) * FRAME_BYTES]
        )
        if not speech and index < frames:
            if start is None:
                start = index
            continue
        if start is not None:
            quiet = Quiet(start * FRAME_S, index * FRAME_S)
            if quiet.length_s >= min_s:
                stretches.append(quiet)
            start = None
    return stretches


def longest_quiet_around(recording: bytes, at_s: float, within_s: float = 0.5) -> float:
    """The longest quiet stretch that touches ``[at_s, at_s + within_s]``: the silence a
    caller heard because of something that happened at ``at_s`` (0.0 when there was none)."""
    lengths = [
        q.length_s
        for q in quiet_stretches(recording, min_s=FRAME_S)
        if q.start_s <= at_s + within_s and q.end_s >= at_s
    ]
    return max(lengths, default=0.0)
