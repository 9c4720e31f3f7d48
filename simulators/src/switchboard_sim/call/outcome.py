"""What a simulated call reports, and how it fails.

Apart from the simulator because the result outlives it (tests, benchmarks and the CLI read it
after the call) and because every part of the call, stream and TwiML alike, fills it in.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Literal

from switchboard_common.audio import SAMPLE_RATE
from switchboard_common.messages import CallEvent

from .stream import TurnLatency


class CallFailed(Exception):
    """The call did not go as scripted; the message says where and why."""


@dataclass(slots=True)
class CallResult:
    """Everything observed on one call. ``ok`` means it went as scripted."""

    call_sid: str
    account_sid: str
    stream_sid: str = ""
    webhook_status: int | None = None
    twiml: str = ""
    stream_url: str | None = None
    custom_parameters: dict[str, str] = field(default_factory=dict)
    connected: bool = False
    handshake_status: int | None = None
    refused_as_expected: bool = False
    marks_received: list[str] = field(default_factory=list)
    marks_echoed: list[str] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    played_ms_at_clears: list[float] = field(default_factory=list)
    agent_bytes_received: int = 0
    agent_bytes_played: int = 0
    agent_bytes_dropped: int = 0
    caller_frames_sent: int = 0
    latencies: list[TurnLatency] = field(default_factory=list)
    #: (turn, seconds) of dead air inside the agent's replies (see TwilioMediaStream).
    playback_stalls: list[tuple[int, float]] = field(default_factory=list)
    turns_completed: int = 0
    close_code: int | None = None
    close_reason: str = ""
    #: Who ended the media stream: the caller, the gateway, or Twilio itself on a REST update.
    closed_by: Literal["caller", "gateway", "twilio", ""] = ""
    said_after_close: list[str] = field(default_factory=list)
    twiml_hangup: bool = False
    #: The ``<Connect action>`` URL requested after the stream (public form), and its HTTP status.
    action_url: str | None = None
    action_status: int | None = None
    #: The number a ``<Dial>`` transferred the call to, the caller ID and ring time it named,
    #: and how the dial ended (``DialCallStatus``).
    dialed: str | None = None
    dial_caller_id: str | None = None
    dial_timeout_s: int | None = None
    dial_status: str | None = None
    #: Live-call updates received over the REST API: "redirect" or "completed".
    rest_updates: list[str] = field(default_factory=list)
    #: Media streams the call had (more than one after a lost stream came back), and how each
    #: came back: "action" (the <Connect action> URL) or "rest" (a REST update).
    streams: int = 0
    reentries: list[str] = field(default_factory=list)
    transcript: list[CallEvent] = field(default_factory=list)
    recording: bytes | None = None
    duration_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def latency_summary(self) -> tuple[int, float, float]:
        """(count, p50 ms, max ms) of the turn latencies; zeros when none were measured."""
        values = [lat.latency_ms for lat in self.latencies]
        if not values:
            return 0, 0.0, 0.0
        return len(values), statistics.median(values), max(values)

    def summary(self) -> str:
        ms = 1000 / SAMPLE_RATE  # one μ-law byte
        n, p50, worst = self.latency_summary()
        lines = [
            f"call {self.call_sid}: webhook HTTP {self.webhook_status}, "
            + (
                f"stream connected, closed by {self.closed_by or '?'} (code {self.close_code})"
                if self.connected
                else "stream not connected"
            ),
            f"agent audio: received {self.agent_bytes_received * ms / 1000:.2f} s, "
            f"played {self.agent_bytes_played * ms / 1000:.2f} s, "
            f"dropped {self.agent_bytes_dropped * ms / 1000:.2f} s; "
            f"clears {len(self.clears)}; marks {len(self.marks_received)} received, "
            f"{len(self.marks_echoed)} echoed",
            f"turn latency: {n} turns" + (f", p50 {p50:.0f} ms, max {worst:.0f} ms" if n else ""),
        ]
        if self.action_url is not None:
            lines.append(f"<Connect action> {self.action_url}: HTTP {self.action_status}")
        if self.said_after_close:
            lines.append("said after the stream: " + " | ".join(self.said_after_close))
        if self.dialed is not None:
            lines.append(f"transferred to {self.dialed}")
        lines.extend(f"error: {e}" for e in self.errors)
        lines.append("RESULT: " + ("OK" if self.ok else "FAILED"))
        return "\n".join(lines)
