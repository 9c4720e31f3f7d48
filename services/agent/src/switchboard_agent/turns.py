"""When an agent turn is final: only once we know how much of it the caller heard.

The model finishes generating a reply long before Twilio finishes playing it, and a barge-in
can cut it anywhere. So a reply waits here until playback confirms it was heard in full, or a
barge-in says where it was cut (domain logic, no I/O: ``emit`` publishes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .playback import AudioLedger

#: emit(text, item_id, interrupted, played_ms or None when unknown, produced_ms)
Emit = Callable[[str, str, bool, int | None, int], None]


@dataclass
class _Pending:
    text: str


class AgentTurns:
    def __init__(self, ledger: AudioLedger, emit: Emit) -> None:
        self._ledger = ledger
        self._emit = emit
        self._pending: dict[str, _Pending] = {}
        self._cut_at: dict[str, int] = {}
        self.count = 0

    def spoken(self, item_id: str, text: str) -> None:
        """The model finished an assistant item (``response.done``)."""
        if item_id in self._cut_at:
            self._final(item_id, text, interrupted=True, played=self._cut_at.pop(item_id))
        else:
            self._pending[item_id] = _Pending(text)

    def unconfirmed(self) -> list[str]:
        """The finished replies still waiting for playback to confirm them, oldest first."""
        return [pending.text for pending in self._pending.values()]

    def cut(self, item_id: str, played_ms: int | None) -> None:
        """A barge-in stopped ``item_id`` after ``played_ms`` (None: it had played in full).
        Replies before it had all been heard."""
        for earlier in list(self._pending):
            if earlier == item_id:
                break
            self._final(earlier, self._pending.pop(earlier).text, False, self._produced(earlier))
        played = self._produced(item_id) if played_ms is None else played_ms
        interrupted = played_ms is not None
        pending = self._pending.pop(item_id, None)
        if pending is None:
            if interrupted:
                self._cut_at[item_id] = played  # its response.done is still to come
            return
        self._final(item_id, pending.text, interrupted, played)

    def played_through(self, last_chunk: int) -> None:
        """Playback reached ``last_chunk``: every reply whose audio ends there is final."""
        for item_id in list(self._pending):
            last = self._ledger.last_seq_of(item_id)
            if last is not None and last <= last_chunk:
                self._final(
                    item_id, self._pending.pop(item_id).text, False, self._produced(item_id)
                )

    def flush(self) -> None:
        """The call ended: whatever is left is final, with the played part unknown."""
        for item_id, pending in list(self._pending.items()):
            self._final(item_id, pending.text, False, None)
        self._pending.clear()

    def _produced(self, item_id: str) -> int:
        return int(self._ledger.produced_ms(item_id))

    def _final(self, item_id: str, text: str, interrupted: bool, played: int | None) -> None:
        self.count += 1
        self._emit(text, item_id, interrupted, played, self._produced(item_id))
