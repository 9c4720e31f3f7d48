"""What each session received and sent, for tests to assert on.

Audio appends are counted, not stored (50/s per call); every other client
event is kept verbatim, plus errors, truncations and response outcomes sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

APPEND = "input_audio_buffer.append"


@dataclass(slots=True)
class SessionRecord:
    id: str
    model: str
    echo: bool
    connected: bool = True
    opened_at: float = field(default_factory=time.time)
    closed_at: float | None = None
    event_types: list[str] = field(default_factory=list)  # consecutive appends collapse to one
    append_count: int = 0
    append_audio_chars: int = 0
    control_events: list[dict[str, Any]] = field(default_factory=list)
    errors_sent: list[dict[str, Any]] = field(default_factory=list)
    truncations: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    transcripts: list[dict[str, str]] = field(default_factory=list)
    sent_counts: dict[str, int] = field(default_factory=dict)

    def note_append(self, audio_chars: int) -> None:
        self.append_count += 1
        self.append_audio_chars += audio_chars
        if not self.event_types or self.event_types[-1] != APPEND:
            self.event_types.append(APPEND)

    def note_control(self, kind: str, payload: dict[str, Any]) -> None:
        self.event_types.append(kind)
        self.control_events.append(payload)

    def note_invalid(self, kind: Any, raw: str) -> None:
        label = kind if isinstance(kind, str) else "<invalid>"
        self.event_types.append(label)
        self.control_events.append({"type": label, "invalid": True, "raw": raw[:4000]})

    def note_transcript(self, item_id: str, transcript: str) -> None:
        self.transcripts.append({"item_id": item_id, "transcript": transcript})

    def note_sent(self, kind: str, event: Any) -> None:
        self.sent_counts[kind] = self.sent_counts.get(kind, 0) + 1
        if kind == "response.output_audio.delta":
            return
        if kind == "error":
            self.errors_sent.append(event.error.model_dump(mode="json", exclude_unset=True))
        elif kind == "conversation.item.truncated":
            self.truncations.append({"item_id": event.item_id, "audio_end_ms": event.audio_end_ms})
        elif kind == "response.done":
            resp = event.response
            details = resp.status_details
            self.responses.append(
                {
                    "id": resp.id,
                    "status": resp.status,
                    "reason": details.reason if details else None,
                    "output": [
                        item.model_dump(mode="json", exclude_none=True)
                        for item in resp.output or []
                    ],
                }
            )

    def close(self) -> None:
        self.connected = False
        self.closed_at = time.time()

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "echo": self.echo,
            "connected": self.connected,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "event_types": list(self.event_types),
            "append_count": self.append_count,
            "append_audio_chars": self.append_audio_chars,
            "control_events": list(self.control_events),
            "errors_sent": list(self.errors_sent),
            "truncations": list(self.truncations),
            "responses": list(self.responses),
            "transcripts": list(self.transcripts),
            "sent_counts": dict(self.sent_counts),
        }
