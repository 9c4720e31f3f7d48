"""What the caller has actually heard, from Twilio's marks and the clock."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class PlaybackTracker:
    """Follows agent audio from 'sent to Twilio' to 'heard by the caller'.

    Twilio echoes a mark when playback reaches it, and echoes every pending mark at once on
    ``clear`` — those were *not* played, so marks arriving after a clear are ignored. Between
    marks Twilio plays in real time, from the moment audio reaches it, so the position between
    two marks (which need not follow every chunk) is interpolated from the clock.
    """

    __slots__ = ("_clock", "_last_mark_at", "_pending", "chunks_sent", "last_played", "last_sent")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pending: deque[tuple[int, float, float]] = deque()  # (seq, duration_s, sent_at)
        self._last_mark_at = clock()
        self.last_played = -1
        self.last_sent = -1
        self.chunks_sent = 0

    def sent(self, seq: int, duration_ms: float) -> None:
        self._pending.append((seq, duration_ms / 1000.0, self._clock()))
        self.last_sent = seq
        self.chunks_sent += 1

    def played(self, seq: int) -> bool:
        """Record an echoed mark. True when it means everything sent has now been played."""
        if not self._pending or seq < self._pending[0][0]:
            return False  # a mark Twilio returned because of a clear, or a duplicate
        while self._pending and self._pending[0][0] <= seq:
            self._pending.popleft()
        self.last_played = seq
        self._last_mark_at = self._clock()
        return not self._pending

    def position(self) -> tuple[int, float]:
        """(last fully played chunk, ms played of the chunk after it), by replaying the
        unconfirmed chunks on the clock since the last mark."""
        now = self._clock()
        last, cursor = self.last_played, self._last_mark_at
        for seq, duration_s, sent_at in self._pending:
            start = max(cursor, sent_at)
            if now < start + duration_s:
                return last, max(now - start, 0.0) * 1000.0
            last, cursor = seq, start + duration_s
        return last, 0.0

    def cleared(self) -> tuple[int, float]:
        """Position at the moment of a clear; everything pending is dropped."""
        at = self.position()
        self._pending.clear()
        return at

    @property
    def idle(self) -> bool:
        return not self._pending
