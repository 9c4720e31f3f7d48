"""The BusinessProfile as an HTML form: the form's fields to the profile's JSON, and the
model's validation errors back to the field each belongs to."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from switchboard_common.business import BusinessProfile

#: The tools a business can enable (the agent's built-ins).
TOOLS = ("query_knowledge_base", "take_message", "get_current_time", "end_call", "transfer_call")
_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?\d+(\.\d+)?$")


def _text(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _number(raw: str, kind: type[int] | type[float]) -> Any:
    """``""`` → None, digits → the number; anything else stays text for the model to refuse
    beside its field."""
    if raw == "":
        return None
    if kind is int and _INT.fullmatch(raw):
        return int(raw)
    if kind is float and _FLOAT.fullmatch(raw):
        return float(raw)
    return raw


def _lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.splitlines() if line.strip()]


def profile_data(form: FormData) -> dict[str, Any]:
    """The profile's JSON from the form. Blank optional fields are left out (defaults)."""
    turn: dict[str, Any] = {"type": _text(form, "turn_detection.type") or "server_vad"}
    for name, kind in (
        ("threshold", float),
        ("prefix_padding_ms", int),
        ("silence_duration_ms", int),
    ):
        value = _number(_text(form, f"turn_detection.{name}"), kind)
        if value is not None:
            turn[name] = value
    if eagerness := _text(form, "turn_detection.eagerness"):
        turn["eagerness"] = eagerness
    if (interrupt := _text(form, "turn_detection.interrupt_response")) in ("yes", "no"):
        turn["interrupt_response"] = interrupt == "yes"
    max_tokens = _text(form, "max_output_tokens") or "inf"
    data: dict[str, Any] = {
        "business_id": _text(form, "business_id"),
        "name": _text(form, "name"),
        "phone_numbers": _lines(_text(form, "phone_numbers")),
        "instructions": _text(form, "instructions"),
        "greeting": _text(form, "greeting"),
        "voice": _text(form, "voice"),
        "language": _text(form, "language"),
        "timezone": _text(form, "timezone"),
        "turn_detection": turn,
        "temperature": _number(_text(form, "temperature"), float),
        "max_output_tokens": max_tokens if max_tokens == "inf" else _number(max_tokens, int),
        "enabled_tools": [t for t in form.getlist("enabled_tools") if isinstance(t, str)],
        "transfer_number": _text(form, "transfer_number") or None,
        "when_model_lost": _text(form, "when_model_lost") or "hang_up",
        "max_call_length_s": _number(_text(form, "max_call_length_s"), int),
        "caller_silence_timeout_s": _number(_text(form, "caller_silence_timeout_s"), int),
        "keypress_while_speaking": _text(form, "keypress_while_speaking") or "interrupt",
    }
    return {k: v for k, v in data.items() if v is not None or k == "transfer_number"}


#: The profile's fields the form shows; the others are kept as stored when it is saved.
SHOWN = frozenset(
    {
        "business_id",
        "name",
        "phone_numbers",
        "instructions",
        "greeting",
        "voice",
        "language",
        "timezone",
        "turn_detection",
        "temperature",
        "max_output_tokens",
        "enabled_tools",
        "transfer_number",
        "when_model_lost",
        "max_call_length_s",
        "caller_silence_timeout_s",
        "keypress_while_speaking",
    }
)


def with_unshown(data: dict[str, Any], stored: BusinessProfile) -> dict[str, Any]:
    """The form's profile with the stored values of the fields the form does not show (the
    holding clip, the transfer's caller ID and ring time): saving the form keeps them."""
    kept = {k: v for k, v in stored.model_dump(mode="json").items() if k not in SHOWN}
    return {**kept, **data}


def form_values(profile: BusinessProfile | dict[str, Any]) -> dict[str, str]:
    """What each field shows: a stored profile, or what was just submitted."""
    data = profile.model_dump(mode="json") if isinstance(profile, BusinessProfile) else profile
    turn = data.get("turn_detection") or {}
    interrupt = turn.get("interrupt_response")

    def show(value: Any) -> str:
        return "" if value is None else str(value)

    values = {
        key: show(data.get(key))
        for key in (
            "business_id",
            "name",
            "instructions",
            "greeting",
            "voice",
            "language",
            "timezone",
            "temperature",
            "max_output_tokens",
            "transfer_number",
            "when_model_lost",
            "max_call_length_s",
            "caller_silence_timeout_s",
            "keypress_while_speaking",
        )
    }
    values["phone_numbers"] = "\n".join(data.get("phone_numbers") or [])
    for name in ("type", "threshold", "prefix_padding_ms", "silence_duration_ms", "eagerness"):
        values[f"turn_detection.{name}"] = show(turn.get(name))
    values["turn_detection.interrupt_response"] = (
        "" if interrupt is None else "yes" if interrupt else "no"
    )
    values["enabled_tools"] = ",".join(data.get("enabled_tools") or [])
    return values


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Field name (as in the form: ``turn_detection.threshold``) → its first error; errors
    of the whole profile under ``""``."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
        # pydantic names the branch of a union, or a validator (``function-after[...]``)
        loc = [p for p in loc if not p.startswith(("function-", "literal[", "constrained-"))]
        loc = [p for p in loc if p not in ("int", "str", "float", "bool")]
        key = ".".join(loc[:2])
        message = str(error["msg"]).removeprefix("Value error, ")
        errors.setdefault(key, message)
    return errors


def defaults(business_id: str = "") -> dict[str, str]:
    """A new business's form: the profile's defaults."""
    fields = BusinessProfile.model_fields
    values = {
        name: str(field.default)
        for name, field in fields.items()
        if isinstance(field.default, str | int | float) and name != "v"
    }
    values.update(
        business_id=business_id,
        phone_numbers="",
        enabled_tools=",".join(TOOLS),
        transfer_number="",
        temperature="",
        **{f"turn_detection.{n}": "" for n in ("threshold", "prefix_padding_ms", "eagerness")},
    )
    values["turn_detection.type"] = "server_vad"
    values["turn_detection.silence_duration_ms"] = ""
    values["turn_detection.interrupt_response"] = ""
    return values
