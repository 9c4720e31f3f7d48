"""The audio wire format on the bus: raw bytes, never JSON.

Twilio and OpenAI both speak base64 G.711 μ-law at 8 kHz, 20 ms = 160 bytes. On the bus the
audio travels decoded (raw μ-law), which is what any other consumer (a recorder, a speech
recogniser) wants and is 25 % smaller than base64; ``bench/codec.py`` measures the decode at well
under a microsecond per frame.

* Caller audio (``subjects.caller_audio``): the payload *is* the μ-law bytes, nothing else.
* Agent audio (``subjects.agent_audio``): a 5-byte header — format version (1 byte) and a chunk
  sequence number (uint32, big-endian) — then the μ-law bytes. The gateway names the Twilio mark
  after the sequence number, so the agent learns exactly which chunk was played.
"""

from __future__ import annotations

import struct

SAMPLE_RATE = 8000
BYTES_PER_MS = SAMPLE_RATE // 1000  # μ-law: one byte per sample
FRAME_MS = 20
FRAME_BYTES = FRAME_MS * BYTES_PER_MS
#: μ-law code of digital silence.
ULAW_SILENCE = 0xFF

AGENT_CHUNK_VERSION = 1
_CHUNK_HEADER = struct.Struct(">BI")
CHUNK_HEADER_SIZE = _CHUNK_HEADER.size


class AudioFormatError(ValueError):
    """A bus audio payload that does not follow the wire format."""


def encode_agent_chunk(seq: int, ulaw: bytes) -> bytes:
    """Frame one agent audio chunk for the bus."""
    return _CHUNK_HEADER.pack(AGENT_CHUNK_VERSION, seq & 0xFFFFFFFF) + ulaw


def decode_agent_chunk(payload: bytes) -> tuple[int, memoryview]:
    """Split a bus agent chunk into (sequence, μ-law view) without copying the audio."""
    if len(payload) < CHUNK_HEADER_SIZE:
        raise AudioFormatError(f"agent chunk of {len(payload)} bytes is shorter than its header")
    version, seq = _CHUNK_HEADER.unpack_from(payload)
    if version != AGENT_CHUNK_VERSION:
        raise AudioFormatError(f"agent chunk version {version} is not supported")
    return seq, memoryview(payload)[CHUNK_HEADER_SIZE:]


def ulaw_ms(n_bytes: int) -> int:
    """Duration in ms of ``n_bytes`` of 8 kHz μ-law."""
    return n_bytes // BYTES_PER_MS
