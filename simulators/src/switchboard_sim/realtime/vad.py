"""Energy-based server VAD on the audio timeline.

A simulator cannot run OpenAI's VAD model, so speech is "loud enough audio":
the RMS of each 10 ms frame is mapped to a 0..1 level on a -60..0 dBFS scale
and compared to the session's ``threshold`` (0.5 ≈ -30 dBFS, between telephone
speech and line noise). Time is measured in audio milliseconds, never wall
clock, so results do not depend on how fast a client streams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .audio import AudioFormat, rms

FRAME_MS = 10
_FULL_SCALE = 32768.0
_FLOOR_DB = -60.0


def level(linear: bytes) -> float:
    """Loudness of 16-bit PCM as 0..1 (0 = -60 dBFS or quieter, 1 = full scale)."""
    value = rms(linear)
    if value <= 0:
        return 0.0
    db = 20.0 * math.log10(value / _FULL_SCALE)
    return max(0.0, min(1.0, (db - _FLOOR_DB) / -_FLOOR_DB))


@dataclass(frozen=True, slots=True)
class VadConfig:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500


@dataclass(frozen=True, slots=True)
class VadEvent:
    kind: Literal["speech_started", "speech_stopped"]
    audio_ms: int


class EnergyVad:
    """Turns appended audio into speech start/stop events.

    ``buffer_start_ms`` marks the start of the uncommitted input buffer so the
    reported ``audio_start_ms`` (which includes prefix padding, as OpenAI's
    does) never reaches into audio that was already committed.
    """

    def __init__(self, config: VadConfig, fmt: AudioFormat) -> None:
        self.config = config
        self.fmt = fmt
        self._frame_bytes = fmt.bytes_per_ms * FRAME_MS
        self._pending = b""
        self.position_ms = 0
        self.buffer_start_ms = 0
        self.speaking = False
        self._silence_ms = 0

    def reset_buffer(self) -> None:
        """Forget any speech in progress (buffer committed or cleared)."""
        self.speaking = False
        self._silence_ms = 0
        self.buffer_start_ms = self.position_ms

    def feed(self, data: bytes) -> list[VadEvent]:
        events: list[VadEvent] = []
        buf = self._pending + data
        step = self._frame_bytes
        end = len(buf) - len(buf) % step
        for offset in range(0, end, step):
            frame_start = self.position_ms
            self.position_ms += FRAME_MS
            loud = level(self.fmt.to_linear(buf[offset : offset + step])) >= self.config.threshold
            if not self.speaking:
                if loud:
                    self.speaking = True
                    self._silence_ms = 0
                    start = max(self.buffer_start_ms, frame_start - self.config.prefix_padding_ms)
                    events.append(VadEvent("speech_started", start))
            elif loud:
                self._silence_ms = 0
            else:
                self._silence_ms += FRAME_MS
                if self._silence_ms >= self.config.silence_duration_ms:
                    self.speaking = False
                    self._silence_ms = 0
                    events.append(VadEvent("speech_stopped", self.position_ms))
        self._pending = buf[end:]
        return events
