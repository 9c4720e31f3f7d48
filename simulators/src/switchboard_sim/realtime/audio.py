"""G.711 / PCM16 codec helpers shared by the VAD and the synthetic voice.

The stdlib ``audioop`` module is deprecated (removed in 3.13); the
``audioop-lts`` package provides a drop-in module of the same name there.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Literal

if sys.version_info >= (3, 13):  # pragma: no cover - exercised on newer Pythons only
    import audioop
else:  # pragma: no cover - import shim
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

FormatType = Literal["audio/pcmu", "audio/pcma", "audio/pcm"]

ULAW_SILENCE = 0xFF  # μ-law code for linear 0


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """One of the wire formats the Realtime API accepts for session audio."""

    type: FormatType = "audio/pcm"
    rate: int = 24000

    @property
    def bytes_per_ms(self) -> int:
        width = 2 if self.type == "audio/pcm" else 1
        return self.rate * width // 1000

    def to_linear(self, data: bytes) -> bytes:
        """Decode wire bytes into 16-bit linear PCM at ``rate``."""
        if self.type == "audio/pcmu":
            return audioop.ulaw2lin(data, 2)
        if self.type == "audio/pcma":
            return audioop.alaw2lin(data, 2)
        return data if len(data) % 2 == 0 else data[:-1]

    def from_ulaw8k(self, data: bytes) -> bytes:
        """Encode 8 kHz μ-law (the voice's native format) into this format."""
        if self.type == "audio/pcmu":
            return data
        linear = audioop.ulaw2lin(data, 2)
        if self.type == "audio/pcma":
            return audioop.lin2alaw(linear, 2)
        converted, _ = audioop.ratecv(linear, 2, 1, 8000, self.rate, None)
        return converted

    @classmethod
    def from_config(cls, fmt: dict[str, Any] | None) -> AudioFormat:
        """Read a GA ``audio.{input,output}.format`` dict (default PCM16 24 kHz)."""
        if not fmt:
            return cls()
        kind = fmt.get("type") or "audio/pcm"
        if kind == "audio/pcmu":
            return cls("audio/pcmu", 8000)
        if kind == "audio/pcma":
            return cls("audio/pcma", 8000)
        return cls("audio/pcm", int(fmt.get("rate") or 24000))


def linear_to_ulaw(linear: bytes) -> bytes:
    return audioop.lin2ulaw(linear, 2)


def resample_linear(linear: bytes, src_rate: int, dst_rate: int) -> bytes:
    if src_rate == dst_rate:
        return linear
    converted, _ = audioop.ratecv(linear, 2, 1, src_rate, dst_rate, None)
    return converted


def rms(linear: bytes) -> int:
    return int(audioop.rms(linear, 2)) if linear else 0


__all__ = [
    "ULAW_SILENCE",
    "AudioFormat",
    "FormatType",
    "audioop",
    "linear_to_ulaw",
    "resample_linear",
    "rms",
]
