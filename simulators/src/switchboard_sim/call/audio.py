"""μ-law audio for the simulated caller: WAV in (any of the formats a test author has at hand),
160-byte frames out, and a μ-law WAV writer for recordings.

``wave`` cannot read or write μ-law (format tag 7), and sox/espeak write exactly that, so the RIFF
chunks are parsed here by hand.
"""

from __future__ import annotations

import base64
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

try:  # stdlib up to 3.12; on 3.13+ the audioop-lts package installs a module of the same name.
    with warnings.catch_warnings():  # 3.11/3.12 warn that the stdlib copy is going away
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the interpreter
    raise ImportError("Python 3.13+ needs the audioop-lts package for μ-law codecs") from exc

from switchboard_common.audio import FRAME_BYTES, SAMPLE_RATE, ULAW_SILENCE

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_MULAW = 7
WAVE_FORMAT_EXTENSIBLE = 0xFFFE

SILENCE_FRAME = bytes([ULAW_SILENCE]) * FRAME_BYTES
SILENCE_FRAME_B64 = base64.b64encode(SILENCE_FRAME).decode("ascii")
#: RMS (16-bit scale) below which a frame counts as silence: about -45 dBFS.
SPEECH_RMS = 180


class WavError(ValueError):
    """A WAV file the simulator cannot speak."""


def read_wav_ulaw(path: str | Path) -> bytes:
    """Read a mono WAV (8 kHz μ-law, or 8/16 kHz 16-bit PCM) and return 8 kHz μ-law bytes."""
    data = Path(path).read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError(f"{path}: not a RIFF/WAVE file")
    fmt: tuple[int, int, int, int] | None = None
    samples: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise WavError(f"{path}: short fmt chunk")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]  # first 2 bytes of the sub-format GUID
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            samples = body
        pos += 8 + size + (size & 1)
    if fmt is None or samples is None:
        raise WavError(f"{path}: missing fmt or data chunk")
    tag, channels, rate, bits = fmt
    if tag == WAVE_FORMAT_MULAW and bits == 8:
        if channels != 1 or rate != SAMPLE_RATE:
            raise WavError(f"{path}: μ-law WAV must be 8 kHz mono, got {rate} Hz x{channels}")
        return samples
    if tag == WAVE_FORMAT_PCM and bits == 16:
        samples = samples[: len(samples) - len(samples) % (2 * channels)]
        if channels == 2:
            samples = audioop.tomono(samples, 2, 0.5, 0.5)
        elif channels != 1:
            raise WavError(f"{path}: {channels} channels are not supported")
        if rate != SAMPLE_RATE:
            if rate != 16000:
                raise WavError(f"{path}: PCM WAV must be 8 or 16 kHz, got {rate} Hz")
            samples, _ = audioop.ratecv(samples, 2, 1, rate, SAMPLE_RATE, None)
        return audioop.lin2ulaw(samples, 2)
    raise WavError(f"{path}: format tag {tag} / {bits} bit is not supported (μ-law or 16-bit PCM)")


def ulaw_wav_bytes(ulaw: bytes) -> bytes:
    """A complete 8 kHz mono μ-law WAV file (format tag 7, with the fact chunk non-PCM needs)."""
    fmt = struct.pack("<HHIIHHH", WAVE_FORMAT_MULAW, 1, SAMPLE_RATE, SAMPLE_RATE, 1, 8, 0)
    fact = struct.pack("<I", len(ulaw))
    pad = b"\x00" if len(ulaw) & 1 else b""
    chunks = (
        b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"fact" + struct.pack("<I", len(fact)) + fact
        + b"data" + struct.pack("<I", len(ulaw)) + ulaw + pad
    )  # fmt: skip
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def write_ulaw_wav(path: str | Path, ulaw: bytes) -> None:
    """Write μ-law bytes as a WAV any player (and :func:`read_wav_ulaw`) understands."""
    Path(path).write_bytes(ulaw_wav_bytes(ulaw))


def is_speech(frame: bytes) -> bool:
    """Whether a μ-law frame is louder than background silence."""
    return audioop.rms(audioop.ulaw2lin(frame, 2), 2) >= SPEECH_RMS


@dataclass(frozen=True, slots=True)
class Utterance:
    """Caller speech cut into 20 ms frames, base64 done once up front (the send loop is hot).

    ``speech_end`` is the index of the last non-silent frame: the moment it is sent is the end of
    the caller's speech, from which turn latency is measured.
    """

    text: str
    frames_b64: tuple[str, ...]
    speech_end: int

    @property
    def duration_ms(self) -> int:
        return len(self.frames_b64) * 20

    @classmethod
    def from_ulaw(cls, ulaw: bytes, text: str = "") -> Utterance:
        if not ulaw:
            raise WavError("an utterance needs audio")
        rem = len(ulaw) % FRAME_BYTES
        if rem:
            ulaw += bytes([ULAW_SILENCE]) * (FRAME_BYTES - rem)
        frames = [ulaw[i : i + FRAME_BYTES] for i in range(0, len(ulaw), FRAME_BYTES)]
        speech_end = len(frames) - 1
        while speech_end > 0 and not is_speech(frames[speech_end]):
            speech_end -= 1
        b64 = tuple(base64.b64encode(f).decode("ascii") for f in frames)
        return cls(text=text, frames_b64=b64, speech_end=speech_end)

    @classmethod
    def from_wav(cls, path: str | Path, text: str = "") -> Utterance:
        return cls.from_ulaw(read_wav_ulaw(path), text)
