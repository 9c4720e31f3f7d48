"""The Realtime session a business's calls get (GA protocol, μ-law in and out)."""

from __future__ import annotations

from typing import Any

from openai.types.realtime import RealtimeSessionCreateRequestParam

from switchboard_common.business import BusinessProfile

from ..settings import AgentSettings


def session_config(
    business: BusinessProfile, settings: AgentSettings, tools: list[dict[str, Any]]
) -> RealtimeSessionCreateRequestParam:
    """Twilio carries G.711 μ-law and so does the session (``audio/pcmu``): no transcoding."""
    return {
        "type": "realtime",
        "model": settings.model,
        "instructions": business.instructions,
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcmu"},
                "transcription": {"model": settings.transcription_model},
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": settings.vad_threshold,
                    "prefix_padding_ms": settings.vad_prefix_padding_ms,
                    "silence_duration_ms": settings.vad_silence_duration_ms,
                    "create_response": True,
                    "interrupt_response": settings.interrupt_response,
                },
            },
            "output": {"format": {"type": "audio/pcmu"}, "voice": business.voice},
        },
        "tools": tools,  # type: ignore[typeddict-item]
        "tool_choice": "auto",
    }


def greeting_instructions(greeting: str) -> str:
    """The agent speaks first; this asks the model to say the business's greeting verbatim."""
    return f'Greet the caller. Say exactly: "{greeting}"'
