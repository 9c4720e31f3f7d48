"""Speech for the simulated assistant, as 8 kHz μ-law.

Uses ``espeak-ng`` when installed (intelligible audio for demos); otherwise a
deterministic voice-like signal: a harmonic tone whose pitch changes per
syllable under a syllable-shaped envelope, with gaps between words. Its length
is proportional to the text so timing-dependent logic (barge-in, truncation)
behaves like it would with real speech. Results are cached per text.
"""

from __future__ import annotations

import math
import re
import shutil
import struct
import subprocess
import zlib
from array import array
from collections.abc import Callable

from .audio import linear_to_ulaw, resample_linear

SAMPLE_RATE = 8000
MS_PER_CHAR = 65
MIN_MS = 300
MAX_MS = 60_000
_PERIODS = (64, 60, 68, 62, 66)  # pitch periods in samples: ~117..133 Hz
_WORD_GAP_MS = 40

EspeakRunner = Callable[[str], bytes]


def _period_table(period: int) -> list[float]:
    """One pitch period of a buzzy vowel-ish tone (harmonics 1..6)."""
    amps = (1.0, 0.6, 0.45, 0.3, 0.2, 0.12)
    return [
        sum(a * math.sin(2 * math.pi * (h + 1) * i / period) for h, a in enumerate(amps)) / 2.67
        for i in range(period)
    ]


_TABLES = {p: _period_table(p) for p in _PERIODS}


def _syllables(word: str) -> int:
    return max(1, len(re.findall(r"[aeiouy]+", word.lower())))


def synthetic_speech(text: str, amplitude: int = 9000) -> bytes:
    """Deterministic voice-like μ-law audio whose duration tracks ``len(text)``."""
    words = text.split() or ["..."]
    total_ms = max(MIN_MS, min(MAX_MS, MS_PER_CHAR * len(text)))
    letters = sum(len(w) for w in words)
    seed = zlib.crc32(text.encode())
    samples = array("h")
    gap = [0] * (SAMPLE_RATE * _WORD_GAP_MS // 1000)
    speech_ms = max(total_ms - _WORD_GAP_MS * len(words), 100)
    for w_index, word in enumerate(words):
        word_samples = max(80, int(speech_ms * len(word) / max(letters, 1) * SAMPLE_RATE / 1000))
        n_syl = _syllables(word)
        syl_len = max(1, word_samples // n_syl)
        for s in range(n_syl):
            period = _PERIODS[(seed + w_index * 7 + s * 3) % len(_PERIODS)]
            table = _TABLES[period]
            for i in range(syl_len):
                env = math.sin(math.pi * i / syl_len) ** 0.6
                samples.append(int(amplitude * env * table[i % period]))
        samples.extend(gap)
    return linear_to_ulaw(samples.tobytes())


def _wav_to_ulaw8k(wav: bytes) -> bytes:
    """Convert espeak's mono 16-bit WAV (possibly with streaming sizes) to μ-law."""
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    pos, rate, data = 12, 22050, b""
    while pos + 8 <= len(wav):
        tag, size = wav[pos : pos + 4], struct.unpack("<I", wav[pos + 4 : pos + 8])[0]
        body = wav[pos + 8 : pos + 8 + size]
        if tag == b"fmt ":
            rate = struct.unpack("<I", body[4:8])[0]
        elif tag == b"data":
            data = body
            break
        pos += 8 + size + (size & 1)
    data = data[: len(data) - len(data) % 2]
    return linear_to_ulaw(resample_linear(data, rate, SAMPLE_RATE))


def _run_espeak(text: str) -> bytes:
    # The text is passed as an argv element (no shell), after "--" so it is never an option.
    proc = subprocess.run(
        ["espeak-ng", "--stdout", "-v", "en-us", "-s", "165", "--", text],
        capture_output=True,
        check=True,
        timeout=30,
    )
    return proc.stdout


class VoiceSynth:
    """Text to 8 kHz μ-law with a per-text cache."""

    def __init__(self, *, use_espeak: bool | None = None, espeak: EspeakRunner | None = None):
        if use_espeak is None:
            use_espeak = espeak is not None or shutil.which("espeak-ng") is not None
        self._espeak: EspeakRunner | None = (espeak or _run_espeak) if use_espeak else None
        self._cache: dict[str, bytes] = {}

    @property
    def engine(self) -> str:
        return "espeak-ng" if self._espeak else "synthetic"

    def is_cached(self, text: str) -> bool:
        return text in self._cache

    def synthesize(self, text: str) -> bytes:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        audio = b""
        if self._espeak is not None and text.strip():
            try:
                audio = _wav_to_ulaw8k(self._espeak(text))
            except (OSError, ValueError, subprocess.SubprocessError):
                audio = b""
        if not audio:
            audio = synthetic_speech(text)
        if len(self._cache) > 512:
            self._cache.clear()
        self._cache[text] = audio
        return audio
