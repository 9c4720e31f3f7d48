"""The Twilio Media Streams wire format (bidirectional streams), in and out.

Inbound messages are parsed with orjson into plain dicts: a media frame arrives 50 times a
second per call, so there is no per-frame model validation, only the checks needed to not
misbehave. Outbound messages are formatted directly: every interpolated value is either base64
or a stream sid we validated at ``start``.
"""

from __future__ import annotations

import re
from base64 import b64decode
from dataclasses import dataclass, field
from typing import Any

import orjson

_SID_RE = re.compile(r"^[A-Za-z0-9]{2,64}$")


class MediaStreamError(ValueError):
    """A message that does not follow Twilio's Media Streams format."""


@dataclass(frozen=True, slots=True)
class StreamStart:
    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000


def parse(raw: str | bytes) -> dict[str, Any]:
    """Decode one message; raise :class:`MediaStreamError` unless it is an object with an event."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MediaStreamError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        raise MediaStreamError("not an object with an 'event' string")
    return message


def _sub(message: dict[str, Any], key: str) -> dict[str, Any]:
    value = message.get(key)
    if not isinstance(value, dict):
        raise MediaStreamError(f"'{message['event']}' without a '{key}' object")
    return value


def start_of(message: dict[str, Any]) -> StreamStart:
    start = _sub(message, "start")
    stream_sid = start.get("streamSid") or message.get("streamSid")
    call_sid = start.get("callSid")
    if not isinstance(stream_sid, str) or not _SID_RE.fullmatch(stream_sid):
        raise MediaStreamError("start without a valid streamSid")
    if not isinstance(call_sid, str) or not call_sid:
        raise MediaStreamError("start without a callSid")
    params = start.get("customParameters") or {}
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in params.items()
    ):
        raise MediaStreamError("start with malformed customParameters")
    media_format = start.get("mediaFormat") or {}
    encoding = (
        media_format.get("encoding", "audio/x-mulaw") if isinstance(media_format, dict) else ""
    )
    rate = media_format.get("sampleRate", 8000) if isinstance(media_format, dict) else 0
    if encoding != "audio/x-mulaw" or rate != 8000:
        raise MediaStreamError(f"unsupported media format {encoding!r} at {rate!r} Hz")
    return StreamStart(
        stream_sid=stream_sid,
        call_sid=call_sid,
        account_sid=str(start.get("accountSid", "")),
        custom_parameters=params,
    )


def inbound_audio_of(message: dict[str, Any]) -> bytes | None:
    """The caller's μ-law bytes of a ``media`` message; None for another track."""
    media = _sub(message, "media")
    if media.get("track", "inbound") != "inbound":
        return None
    payload = media.get("payload")
    if not isinstance(payload, str):
        raise MediaStreamError("media without a payload string")
    try:
        return b64decode(payload, validate=True)
    except ValueError:  # binascii.Error, or a str that is not ASCII
        raise MediaStreamError("media payload is not base64") from None


def mark_name_of(message: dict[str, Any]) -> str:
    name = _sub(message, "mark").get("name")
    if not isinstance(name, str):
        raise MediaStreamError("mark without a name")
    return name


def dtmf_digit_of(message: dict[str, Any]) -> str:
    digit = _sub(message, "dtmf").get("digit")
    if not isinstance(digit, str) or len(digit) != 1 or digit not in "0123456789*#ABCD":
        raise MediaStreamError("dtmf without a valid digit")
    return digit


def media_message(stream_sid: str, payload_b64: str) -> str:
    return f'{{"event":"media","streamSid":"{stream_sid}","media":{{"payload":"{payload_b64}"}}}}'


def mark_message(stream_sid: str, name: str) -> str:
    return f'{{"event":"mark","streamSid":"{stream_sid}","mark":{{"name":"{name}"}}}}'


def clear_message(stream_sid: str) -> str:
    return f'{{"event":"clear","streamSid":"{stream_sid}"}}'
