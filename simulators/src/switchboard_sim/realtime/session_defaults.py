"""The ``session`` object as the API starts one and as ``session.update`` changes it.

No I/O and no session state: the tests check it directly, apart from the event handling.
Import from :mod:`.session`, the public face.
"""

from __future__ import annotations

import time
from typing import Any

DEFAULT_INSTRUCTIONS = "You are a helpful voice assistant (simulated)."
# Keys whose value replaces the previous one on session.update instead of merging.
_REPLACE_KEYS = frozenset(
    {
        "turn_detection",
        "format",
        "transcription",
        "noise_reduction",
        "tools",
        "tool_choice",
        "tracing",
        "truncation",
        "prompt",
        "voice",
        "include",
    }
)


def default_session(session_id: str, model: str) -> dict[str, Any]:
    vad = {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
        "idle_timeout_ms": None,
    }
    pcm = {"type": "audio/pcm", "rate": 24000}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": int(time.time()) + 3600,
        "audio": {
            "input": {
                "format": dict(pcm),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": vad,
            },
            "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
        },
    }


def merge_session(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Apply a partial ``session.update`` the way the API does (only given fields change)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in _REPLACE_KEYS:
            out[key] = merge_session(out[key], value)
        else:
            out[key] = value
    return out
