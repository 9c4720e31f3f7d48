"""The BusinessProfile form: fields to the profile, errors back beside their fields."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError
from starlette.datastructures import FormData

from switchboard_common.business import BusinessProfile, HoldingClip
from switchboard_gateway.console.profile_form import (
    SHOWN,
    defaults,
    field_errors,
    form_values,
    profile_data,
    with_unshown,
)


def _form(**overrides: str | list[str]) -> FormData:
    values = {**defaults("acme"), "name": "Acme", "phone_numbers": "+1 (415) 555-0100", **overrides}
    items: list[tuple[str, str]] = []
    for key, value in values.items():
        if key == "enabled_tools":
            tools = value if isinstance(value, list) else value.split(",")
            items += [("enabled_tools", t) for t in tools if t]
        else:
            assert isinstance(value, str)
            items.append((key, value))
    return FormData(items)


def test_the_default_form_is_a_valid_profile_and_round_trips() -> None:
    profile = BusinessProfile.model_validate(profile_data(_form()))
    assert profile.phone_numbers == ["+14155550100"]
    again = FormData([(k, v) for k, v in form_values(profile).items() if k != "enabled_tools"])
    assert form_values(profile)["phone_numbers"] == "+14155550100"
    assert again["max_call_length_s"] == "1800"


def test_every_field_is_read_with_its_type() -> None:
    data = profile_data(
        _form(
            temperature="0.8",
            max_output_tokens="512",
            transfer_number="+14155550199",
            when_model_lost="transfer",
            **{"turn_detection.threshold": "0.6", "turn_detection.interrupt_response": "no"},
        )
    )
    profile = BusinessProfile.model_validate(data)
    assert profile.temperature == 0.8 and profile.max_output_tokens == 512
    assert profile.turn_detection.threshold == 0.6
    assert profile.turn_detection.interrupt_response is False
    assert profile.transfer_number == "+14155550199"
    assert profile.when_model_lost == "transfer"
    assert form_values(profile)["when_model_lost"] == "transfer"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"phone_numbers": "call me"}, "phone_numbers"),
        ({"max_call_length_s": "2"}, "max_call_length_s"),
        ({"max_call_length_s": "long"}, "max_call_length_s"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"max_output_tokens": "lots"}, "max_output_tokens"),
        ({"turn_detection.threshold": "2"}, "turn_detection.threshold"),
        ({"name": ""}, "name"),
    ],
)
def test_an_error_is_reported_beside_its_field(overrides: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BusinessProfile.model_validate(profile_data(_form(**overrides)))
    assert field in field_errors(caught.value)


def test_an_error_of_the_whole_profile_has_no_field() -> None:
    with pytest.raises(ValidationError) as caught:
        BusinessProfile.model_validate(profile_data(_form(transfer_number="+14155550100")))
    errors = field_errors(caught.value)
    assert "transfer_number must not be one of" in errors[""]


def test_saving_the_form_keeps_what_it_does_not_show() -> None:
    """The holding clip and the transfer's caller ID and ring time are not on the form: a save
    keeps them as stored, while a field the form shows and the admin cleared is cleared."""
    clip = HoldingClip(voice="marin", ulaw_base64=base64.b64encode(b"\xff" * 4000).decode())
    stored = BusinessProfile.model_validate(profile_data(_form(temperature="0.8"))).model_copy(
        update={"holding_clip": clip, "transfer_caller_id": "business", "transfer_timeout_s": 9}
    )
    data = profile_data(_form(temperature="", name="Acme Two"))
    assert set(data) <= SHOWN <= set(BusinessProfile.model_fields)
    saved = BusinessProfile.model_validate(with_unshown(data, stored))
    assert saved.holding_clip == clip
    assert (saved.transfer_caller_id, saved.transfer_timeout_s) == ("business", 9)
    assert saved.name == "Acme Two" and saved.temperature is None
