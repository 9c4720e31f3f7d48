"""The business configuration model: what validates, what does not, and how it is stored."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from switchboard_common.business import (
    DEMO_BUSINESS,
    BusinessDirectory,
    BusinessProfile,
    HoldingClip,
    TurnDetection,
    load_businesses_file,
)


def _profile(**overrides: Any) -> BusinessProfile:
    data: dict[str, Any] = {
        "business_id": "acme",
        "name": "Acme",
        "phone_numbers": ["+14155550100"],
    } | overrides
    return BusinessProfile.model_validate(data)


def test_the_demo_business_is_valid_and_versioned() -> None:
    stored = json.loads(DEMO_BUSINESS.to_bytes())
    assert stored["v"] == 1
    assert BusinessProfile.from_stored(DEMO_BUSINESS.to_bytes()) == DEMO_BUSINESS
    assert DEMO_BUSINESS.enabled_tools == [
        "query_knowledge_base",
        "take_message",
        "get_current_time",
        "end_call",
        "transfer_call",
    ]


def test_numbers_are_normalised_to_e164() -> None:
    profile = _profile(phone_numbers=["+1 (415) 555-0100", "+39 06.1234.5678"])
    assert profile.phone_numbers == ["+14155550100", "+390612345678"]


@pytest.mark.parametrize(
    "number",
    ["4155550100", "+0155550100", "+1415555010012345", "+1-415-CALL-NOW", "", "+"],
)
def test_bad_phone_numbers_are_refused(number: str) -> None:
    with pytest.raises(ValidationError, match=r"E\.164"):
        _profile(phone_numbers=[number])


def test_number_lists_must_be_non_empty_and_without_duplicates() -> None:
    with pytest.raises(ValidationError):
        _profile(phone_numbers=[])
    with pytest.raises(ValidationError, match="listed twice"):
        _profile(phone_numbers=["+14155550100", "+1 415 555 0100"])


def test_transfer_number_is_e164_and_not_one_of_our_own() -> None:
    assert _profile(transfer_number="+14155550199").transfer_number == "+14155550199"
    with pytest.raises(ValidationError, match=r"E\.164"):
        _profile(transfer_number="0800 123")
    with pytest.raises(ValidationError, match="own numbers"):
        _profile(transfer_number="+14155550100")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 0.5),
        ("temperature", 1.3),
        ("max_output_tokens", 0),
        ("max_output_tokens", 4097),
        ("max_output_tokens", "infinite"),
        ("max_call_length_s", 9),
        ("max_call_length_s", 20000),
        ("caller_silence_timeout_s", 1),
        ("timezone", "Mars/Olympus_Mons"),
        ("language", "English"),
        ("voice", "a voice with spaces"),
        ("enabled_tools", ["take message"]),
        ("enabled_tools", ["take_message", "take_message"]),
        ("name", ""),
        ("business_id", "has.dots"),
        ("greeting", ""),
        ("v", 2),
        ("unknown_field", 1),
    ],
)
def test_out_of_range_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        _profile(**{field: value})


def test_in_range_values_are_kept() -> None:
    profile = _profile(
        temperature=0.8,
        max_output_tokens=512,
        language="pt-BR",
        timezone="America/Sao_Paulo",
        turn_detection={"type": "semantic_vad", "eagerness": "low", "interrupt_response": False},
    )
    assert profile.max_output_tokens == 512
    assert profile.transcription_language == "pt"
    assert profile.turn_detection.eagerness == "low"
    assert _profile(max_output_tokens="inf").max_output_tokens == "inf"


def test_turn_detection_fields_must_fit_the_type() -> None:
    assert TurnDetection(type="server_vad", threshold=0.7, silence_duration_ms=300).threshold == 0.7
    with pytest.raises(ValidationError, match="server_vad only"):
        TurnDetection(type="semantic_vad", threshold=0.7)
    with pytest.raises(ValidationError, match="semantic_vad only"):
        TurnDetection(type="server_vad", eagerness="high")
    with pytest.raises(ValidationError):
        TurnDetection(type="server_vad", threshold=1.5)
    with pytest.raises(ValidationError):
        TurnDetection.model_validate({"type": "push_to_talk"})


def test_stored_documents_are_read_tolerantly() -> None:
    """A field a newer writer added is ignored when reading from the bucket (but refused from
    an admin, where it is most likely a typo)."""
    stored = json.loads(DEMO_BUSINESS.to_bytes()) | {"added_later": True}
    assert BusinessProfile.from_stored(json.dumps(stored)) == DEMO_BUSINESS
    with pytest.raises(ValueError):
        BusinessProfile.from_stored(b"[1, 2]")
    with pytest.raises(ValueError):
        BusinessProfile.from_stored(b"not json")


def test_a_businesses_file_with_a_shared_number_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "businesses.json"
    other = _profile(business_id="other", phone_numbers=DEMO_BUSINESS.phone_numbers)
    path.write_text(
        json.dumps([DEMO_BUSINESS.model_dump(mode="json"), other.model_dump(mode="json")])
    )
    with pytest.raises(ValueError, match="belongs to both"):
        load_businesses_file(path)


def test_the_fixed_directory_reads_like_the_live_one(tmp_path: Path) -> None:
    directory = BusinessDirectory([DEMO_BUSINESS, _profile()])
    assert directory.by_number("+15550100") == DEMO_BUSINESS
    assert directory.get("acme") is not None
    assert [b.business_id for b in directory.all()] == ["acme", "bellas-bistro"]
    assert BusinessDirectory.load(None).all() == [DEMO_BUSINESS]


@settings(max_examples=2000)
@given(st.text(alphabet="+0123456789 ().-x\u0663\u00a0", max_size=24))
def test_the_published_phone_pattern_accepts_exactly_what_the_model_does(number: str) -> None:
    """The JSON schema (and so the OpenAPI document) must not promise numbers the model
    refuses, nor refuse numbers it takes."""
    pattern = BusinessProfile.model_json_schema()["properties"]["phone_numbers"]["items"]
    in_schema = re.fullmatch(pattern["pattern"], number) is not None
    try:
        _profile(phone_numbers=[number])
        in_model = True
    except ValidationError:
        in_model = False
    assert in_schema == in_model, number


def _clip(raw: bytes, voice: str = "marin") -> dict[str, str]:
    return {"voice": voice, "ulaw_base64": base64.b64encode(raw).decode()}


def test_a_holding_clip_is_stored_and_read_back() -> None:
    profile = _profile(holding_clip=_clip(b"\x7f" * 8000) | {"text": "One moment please."})
    assert profile.holding_clip is not None and profile.holding_clip.ulaw == b"\x7f" * 8000
    assert BusinessProfile.from_stored(profile.to_bytes()) == profile
    assert _profile().holding_clip is None  # the agent's own line then


@pytest.mark.parametrize(
    ("clip", "message"),
    [
        (_clip(b"\xff" * 2399), "it must last 0.3 to 6 s"),  # just too short
        (_clip(b"\xff" * 48001), "at most 64000 characters"),  # just too long
        (_clip(b"RIFF" + b"\x00" * 8000), "a WAV file"),
        ({"voice": "marin", "ulaw_base64": "not base64 at all!"}, "not base64"),
        (_clip(b"\xff" * 8000, voice="no spaces"), "pattern"),
    ],
)
def test_a_bad_holding_clip_is_refused(clip: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _profile(holding_clip=clip)


def test_the_longest_holding_clip_fits() -> None:
    longest = HoldingClip.model_validate(_clip(b"\xff" * 48000))
    assert len(longest.ulaw) == 48000
