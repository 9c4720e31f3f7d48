"""What the audio hot path costs per 20 ms frame: base64, JSON, the bus chunk header."""

from __future__ import annotations

import base64
import json
import timeit

import orjson

from switchboard_common.audio import decode_agent_chunk, encode_agent_chunk

FRAME = bytes(range(160))
B64 = base64.b64encode(FRAME).decode()
TWILIO_MEDIA = json.dumps(
    {
        "event": "media",
        "sequenceNumber": "3",
        "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": B64},
        "streamSid": "MZ" + "0" * 32,
    }
)


def _per_call_ns(stmt: object, number: int = 200_000) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number * 1e9  # type: ignore[arg-type]


def measure() -> dict[str, float]:
    chunk = encode_agent_chunk(7, FRAME)
    return {
        "base64 decode (160 B)": _per_call_ns(lambda: base64.b64decode(B64)),
        "base64 decode, validated": _per_call_ns(lambda: base64.b64decode(B64, validate=True)),
        "base64 encode (160 B)": _per_call_ns(lambda: base64.b64encode(FRAME).decode()),
        "orjson parse of a Twilio media message": _per_call_ns(lambda: orjson.loads(TWILIO_MEDIA)),
        "json parse of a Twilio media message": _per_call_ns(lambda: json.loads(TWILIO_MEDIA)),
        "agent chunk header encode": _per_call_ns(lambda: encode_agent_chunk(7, FRAME)),
        "agent chunk header decode": _per_call_ns(lambda: decode_agent_chunk(chunk)),
    }


def report() -> str:
    lines = ["per-frame codec costs (ns, best of 5):"]
    lines += [f"  {name:<42} {ns:8.0f}" for name, ns in measure().items()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
