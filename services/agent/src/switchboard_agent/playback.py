"""Which part of which assistant item the caller actually heard (domain logic, no I/O).

Every audio delta becomes one numbered chunk on the bus; the gateway reports the last chunk
Twilio played and how far into the next one it got. From that, the ledger says where to
truncate the assistant item on a barge-in.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from dataclasses import dataclass, field

from switchboard_common.audio import BYTES_PER_MS

#: Items remembered per call; only the last one or two can still be playing.
KEEP_ITEMS = 4


@dataclass
class _ItemAudio:
    first_seq: int
    ends_ms: array[float] = field(default_factory=lambda: array("d"))  # end of each chunk

    @property
    def produced_ms(self) -> float:
        return self.ends_ms[-1] if self.ends_ms else 0.0


class AudioLedger:
    def __init__(self) -> None:
        self._items: OrderedDict[str, _ItemAudio] = OrderedDict()
        self.next_seq = 0
        self.current_item: str | None = None

    def record(self, item_id: str, n_bytes: int) -> int:
        """Account for one delta of ``item_id``; returns its chunk sequence number."""
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = _ItemAudio(first_seq=self.next_seq)
            while len(self._items) > KEEP_ITEMS:
                self._items.popitem(last=False)
        item.ends_ms.append(item.produced_ms + n_bytes / BYTES_PER_MS)
        self.current_item = item_id
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def produced_ms(self, item_id: str) -> float:
        item = self._items.get(item_id)
        return item.produced_ms if item else 0.0

    def played_ms(self, item_id: str, last_chunk: int, ms_into_next: float) -> float:
        """Audio of ``item_id`` heard by the caller, given the gateway's playback position."""
        item = self._items.get(item_id)
        if item is None:
            return 0.0
        index = last_chunk - item.first_seq  # index of the last fully played chunk in the item
        if index >= len(item.ends_ms) - 1:
            return item.produced_ms
        if index < -1:
            return 0.0
        start = item.ends_ms[index] if index >= 0 else 0.0
        length = item.ends_ms[index + 1] - start
        return start + min(max(ms_into_next, 0.0), length)

    def last_seq_of(self, item_id: str) -> int | None:
        """Sequence number of the item's last chunk so far (None when unknown)."""
        item = self._items.get(item_id)
        if item is None or not item.ends_ms:
            return None
        return item.first_seq + len(item.ends_ms) - 1

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1


@dataclass(frozen=True)
class TruncateDecision:
    """``audio_end_ms`` to truncate at, or None when the caller already heard it all."""

    item_id: str
    audio_end_ms: int | None
    produced_ms: float


def truncation_for(
    ledger: AudioLedger, item_id: str, last_chunk: int, ms_into_next: float
) -> TruncateDecision:
    """Truncate at what was played, clamped to what was produced; skip if it all played."""
    produced = ledger.produced_ms(item_id)
    played = min(ledger.played_ms(item_id, last_chunk, ms_into_next), produced)
    end_ms = int(played)  # floor: never claim more than was produced
    if played >= produced:
        return TruncateDecision(item_id, None, produced)
    return TruncateDecision(item_id, end_ms, produced)
