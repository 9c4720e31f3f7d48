"""The Realtime session a business's calls get (GA protocol, μ-law in and out).

Built from the business's whole profile: instructions and language, voice, turn detection,
``max_output_tokens`` and its tools. Two profile fields have no home in the GA session:
``temperature`` (the beta session's field is gone from GA) is stored but not sent, and the call
limits (``max_call_length_s``, ``caller_silence_timeout_s``) belong to the call, not the model.
"""

from __future__ import annotations

from typing import Any

from openai.types.realtime import (
    RealtimeAudioInputTurnDetectionParam,
    RealtimeSessionCreateRequestParam,
)
from openai.types.realtime.realtime_audio_input_turn_detection_param import SemanticVad

from switchboard_common.business import BusinessProfile

from ..settings import AgentSettings

#: Names the model reads more reliably than a bare tag; anything else is given as its tag.
LANGUAGE_NAMES = {
    "ar": "Arabic",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "sv": "Swedish",
    "tr": "Turkish",
    "zh": "Chinese",
}


def language_label(tag: str) -> str:
    primary, _, region = tag.partition("-")
    name = LANGUAGE_NAMES.get(primary)
    if name is None:
        return f"the language with BCP 47 tag {tag!r}"
    return f"{name} ({region})" if region else name


#: Added when the knowledge tool is on: "no answer" is an answer, not a cue to improvise.
NO_ANSWER_INSTRUCTIONS = (
    "When query_knowledge_base says the business's documents do not cover a question, tell "
    "the caller plainly that you do not have that information, and offer to take a message "
    "or to transfer them. Never guess or answer from unrelated passages. When it does find "
    "an answer, answer from it; you may say which document or section it comes from."
)


def instructions_for(business: BusinessProfile) -> str:
    """The business's instructions, what to do when the documents have no answer, then the
    language to speak."""
    knowledge = (
        f"{NO_ANSWER_INSTRUCTIONS}\n\n" if "query_knowledge_base" in business.enabled_tools else ""
    )
    return (
        f"{business.instructions.rstrip()}\n\n"
        f"{knowledge}"
        f"Speak {language_label(business.language)} unless the caller clearly speaks another "
        "language; then answer in theirs."
    )


def turn_detection(
    business: BusinessProfile, settings: AgentSettings
) -> RealtimeAudioInputTurnDetectionParam:
    """The profile's turn detection; what it leaves out comes from ``AGENT_VAD_*``."""
    td = business.turn_detection
    interrupt = td.interrupt_response
    if interrupt is None:
        interrupt = settings.interrupt_response
    if td.type == "semantic_vad":
        semantic: SemanticVad = {
            "type": "semantic_vad",
            "create_response": True,
            "interrupt_response": interrupt,
        }
        if td.eagerness is not None:
            semantic["eagerness"] = td.eagerness
        return semantic
    return {
        "type": "server_vad",
        "threshold": settings.vad_threshold if td.threshold is None else td.threshold,
        "prefix_padding_ms": (
            settings.vad_prefix_padding_ms if td.prefix_padding_ms is None else td.prefix_padding_ms
        ),
        "silence_duration_ms": (
            settings.vad_silence_duration_ms
            if td.silence_duration_ms is None
            else td.silence_duration_ms
        ),
        "create_response": True,
        "interrupt_response": interrupt,
    }


def session_config(
    business: BusinessProfile, settings: AgentSettings, tools: list[dict[str, Any]]
) -> RealtimeSessionCreateRequestParam:
    """Twilio carries G.711 μ-law and so does the session (``audio/pcmu``): no transcoding."""
    return {
        "type": "realtime",
        "model": settings.model,
        "instructions": instructions_for(business),
        "output_modalities": ["audio"],
        "max_output_tokens": business.max_output_tokens,
        "audio": {
            "input": {
                "format": {"type": "audio/pcmu"},
                "transcription": {
                    "model": settings.transcription_model,
                    "language": business.transcription_language,
                },
                "turn_detection": turn_detection(business, settings),
            },
            "output": {"format": {"type": "audio/pcmu"}, "voice": business.voice},
        },
        "tools": tools,  # type: ignore[typeddict-item]
        "tool_choice": "auto",
    }


def live_update(
    business: BusinessProfile, settings: AgentSettings, tools: list[dict[str, Any]]
) -> RealtimeSessionCreateRequestParam:
    """The ``session.update`` that brings a call in progress up to date with its business:
    everything :func:`session_config` sends except the model, which a session keeps, and the
    voice, which the API refuses to change once the session has spoken (``cannot_update_voice``:
    a new voice is for new calls)."""
    config = session_config(business, settings, tools)
    del config["model"]
    config["audio"] = {
        "input": config["audio"]["input"],
        "output": {"format": {"type": "audio/pcmu"}},
    }
    return config


def greeting_instructions(greeting: str) -> str:
    """The agent speaks first; this asks the model to say the business's greeting verbatim."""
    return f'Greet the caller. Say exactly: "{greeting}"'
