"""The Realtime session built from a business's whole profile (GA fields only)."""

from __future__ import annotations

from openai.types.realtime import RealtimeSessionCreateRequest

from switchboard_agent.realtime.session_config import (
    NO_ANSWER_INSTRUCTIONS,
    instructions_for,
    language_label,
    live_update,
    session_config,
)
from switchboard_agent.settings import AgentSettings
from switchboard_common.business import DEMO_BUSINESS, TurnDetection

SETTINGS = AgentSettings(vad_threshold=0.4, vad_silence_duration_ms=450, interrupt_response=True)


def test_the_profile_fills_the_session_and_the_agent_settings_fill_the_gaps() -> None:
    business = DEMO_BUSINESS.model_copy(
        update={
            "voice": "cedar",
            "max_output_tokens": 256,
            "language": "it-IT",
            "temperature": 0.7,
            "turn_detection": TurnDetection(silence_duration_ms=800, interrupt_response=False),
        }
    )
    config = session_config(business, SETTINGS, [])
    RealtimeSessionCreateRequest.model_validate(config)  # only fields the GA session has
    assert "temperature" not in config
    assert config["max_output_tokens"] == 256
    assert config["instructions"].startswith(DEMO_BUSINESS.instructions)
    assert "Speak Italian (IT)" in config["instructions"]
    audio = config["audio"]
    assert audio["output"]["voice"] == "cedar"  # type: ignore[typeddict-item]
    assert audio["input"]["transcription"]["language"] == "it"  # type: ignore[typeddict-item]
    assert audio["input"]["turn_detection"] == {  # type: ignore[typeddict-item]
        "type": "server_vad",
        "threshold": 0.4,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 800,
        "create_response": True,
        "interrupt_response": False,
    }


def test_semantic_vad() -> None:
    business = DEMO_BUSINESS.model_copy(
        update={"turn_detection": TurnDetection(type="semantic_vad", eagerness="high")}
    )
    config = session_config(business, SETTINGS, [])
    RealtimeSessionCreateRequest.model_validate(config)
    assert config["audio"]["input"]["turn_detection"] == {  # type: ignore[typeddict-item]
        "type": "semantic_vad",
        "create_response": True,
        "interrupt_response": True,
        "eagerness": "high",
    }
    assert session_config(DEMO_BUSINESS, SETTINGS, [])["max_output_tokens"] == "inf"


def test_language_labels() -> None:
    assert language_label("en") == "English"
    assert language_label("pt-BR") == "Portuguese (BR)"
    assert language_label("haw") == "the language with BCP 47 tag 'haw'"
    assert "Speak English" in instructions_for(DEMO_BUSINESS)


def test_with_the_knowledge_tool_no_answer_means_say_so_and_offer_a_message() -> None:
    assert "query_knowledge_base" in DEMO_BUSINESS.enabled_tools
    with_tool = instructions_for(DEMO_BUSINESS)
    assert NO_ANSWER_INSTRUCTIONS in with_tool
    assert "take a message" in NO_ANSWER_INSTRUCTIONS and "transfer" in NO_ANSWER_INSTRUCTIONS
    tools = [t for t in DEMO_BUSINESS.enabled_tools if t != "query_knowledge_base"]
    without = DEMO_BUSINESS.model_copy(update={"enabled_tools": tools})
    assert NO_ANSWER_INSTRUCTIONS not in instructions_for(without)


def test_a_live_update_changes_everything_but_the_model_and_the_voice() -> None:
    """Mid-call, OpenAI refuses a new voice once the session has spoken, and the model is the
    session's own: neither is sent; the rest (instructions, tools, turn detection) is."""
    business = DEMO_BUSINESS.model_copy(update={"voice": "cedar", "instructions": "New rules."})
    tools = [{"type": "function", "name": "end_call", "parameters": {}}]
    update = live_update(business, SETTINGS, tools)
    RealtimeSessionCreateRequest.model_validate({**update, "model": SETTINGS.model})
    assert "model" not in update
    assert update["instructions"].startswith("New rules.")
    assert update["tools"] == tools
    assert update["audio"]["output"] == {"format": {"type": "audio/pcmu"}}
    assert update["audio"]["input"] == session_config(business, SETTINGS, tools)["audio"]["input"]
