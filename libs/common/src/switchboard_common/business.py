"""Businesses (tenants): who answers which number, and how.

A :class:`BusinessProfile` is one business's whole, validated configuration. The source of
truth is the JetStream key-value bucket ``sb_businesses`` (see :mod:`.business_store`): every
service reads it through a live directory kept current by a KV watch, so a change applies to
the next call without a restart. :class:`BusinessDirectory` is the same read interface over a
fixed list (tests, tools); a JSON file of businesses (``SWITCHBOARD_BUSINESSES_FILE``) seeds
the bucket.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from .ids import BusinessId

log = logging.getLogger(__name__)

#: The stored document's schema version; a breaking change bumps it.
BUSINESS_SCHEMA_VERSION = 1

_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")  # ASCII digits only, as Twilio sends them
_SEPARATORS = re.compile(r"[\s().-]")
_TOOL_NAME = r"^[A-Za-z0-9_-]{1,64}$"
_VOICE = r"^[A-Za-z0-9_-]{1,64}$"
#: A holding clip's length bounds; 8 kHz μ-law is 8 bytes a millisecond.
HOLDING_CLIP_MIN_MS = 300
HOLDING_CLIP_MAX_MS = 6000
_ULAW_BYTES_PER_MS = 8
_LANGUAGE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


def _strip_separators(value: Any) -> Any:
    """Admins write "+1 (555) 010-0100"; the number Twilio sends is "+15550100100"."""
    return _SEPARATORS.sub("", value) if isinstance(value, str) else value


def _check_e164(value: str) -> str:
    if not _E164.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an E.164 phone number ('+', the country code and the number, "
            "at most 15 digits, e.g. +14155550100)"
        )
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Rome)") from exc
    return value


def _check_ulaw_clip(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the clip is not base64") from exc
    if raw[:4] == b"RIFF":
        raise ValueError(
            "the clip is a WAV file: store its raw 8 kHz mono μ-law samples (e.g. sox in.wav "
            "-r 8000 -c 1 -e u-law -t raw out.ulaw)"
        )
    ms = len(raw) / _ULAW_BYTES_PER_MS
    if not HOLDING_CLIP_MIN_MS <= ms <= HOLDING_CLIP_MAX_MS:
        raise ValueError(
            f"the clip lasts {ms / 1000:.2f} s; it must last {HOLDING_CLIP_MIN_MS / 1000:g} to "
            f"{HOLDING_CLIP_MAX_MS / 1000:g} s (8 kHz μ-law: 8 bytes a millisecond)"
        )
    return value


def _no_duplicates(values: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} is listed twice")
        seen.add(value)
    return values


#: What :data:`PhoneNumber` accepts, separators included, for the JSON schema.
_E164_WITH_SEPARATORS = r"^[\s().-]*\+[\s().-]*[1-9]([\s().-]*[0-9]){1,14}[\s().-]*$"

#: A phone number in E.164 (separators such as spaces, dashes and brackets are removed first).
PhoneNumber = Annotated[
    str,
    BeforeValidator(_strip_separators),
    AfterValidator(_check_e164),
    WithJsonSchema(
        {"type": "string", "pattern": _E164_WITH_SEPARATORS, "examples": ["+14155550100"]}
    ),
]
ToolName = Annotated[str, Field(pattern=_TOOL_NAME)]


class TurnDetection(BaseModel):
    """How the Realtime API decides the caller finished speaking (its ``turn_detection``).

    A field left out (``None``) takes the agent's default (``AGENT_VAD_*``) or the API's own.
    ``threshold``, ``prefix_padding_ms`` and ``silence_duration_ms`` belong to ``server_vad``;
    ``eagerness`` to ``semantic_vad``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="server_vad: 0.0 to 1.0.")
    prefix_padding_ms: int | None = Field(
        None, ge=0, le=5000, description="server_vad: audio kept before speech starts."
    )
    silence_duration_ms: int | None = Field(
        None, ge=0, le=10000, description="server_vad: silence that ends the caller's turn."
    )
    eagerness: Literal["low", "medium", "high", "auto"] | None = Field(
        None, description="semantic_vad: how soon the model answers."
    )
    interrupt_response: bool | None = Field(
        None, description="The server cancels its reply when the caller starts talking."
    )

    @model_validator(mode="after")
    def _fields_fit_the_type(self) -> TurnDetection:
        if self.type == "semantic_vad":
            for name in ("threshold", "prefix_padding_ms", "silence_duration_ms"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} applies to server_vad only, not semantic_vad")
        elif self.eagerness is not None:
            raise ValueError("eagerness applies to semantic_vad only, not server_vad")
        return self


class HoldingClip(BaseModel):
    """The business's own holding line, in its words and its agent's voice: what a caller
    hears while the model cannot be reached. Pre-rendered, as Twilio plays it (8 kHz mono
    μ-law), so nothing is converted or synthesised during a call. Without one, or on a call
    in another voice, the agent plays its own line ("One moment please, I'm still here.")."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    voice: str = Field(
        pattern=_VOICE,
        description="The voice the clip was rendered in: it is played on calls in that voice "
        "only (after a voice change, store a new clip).",
    )
    ulaw_base64: Annotated[str, AfterValidator(_check_ulaw_clip)] = Field(
        max_length=4 * -(-HOLDING_CLIP_MAX_MS * _ULAW_BYTES_PER_MS // 3),  # base64 of the most
        description="The clip: raw 8 kHz mono μ-law samples (no WAV header), base64, "
        f"{HOLDING_CLIP_MIN_MS / 1000:g} to {HOLDING_CLIP_MAX_MS / 1000:g} s.",
    )
    text: str = Field("", max_length=200, description="What the clip says, for people.")

    @property
    def ulaw(self) -> bytes:
        return base64.b64decode(self.ulaw_base64)


def _default_tools() -> list[str]:
    return [
        "query_knowledge_base",
        "take_message",
        "get_current_time",
        "end_call",
        "transfer_call",
    ]


class BusinessProfile(BaseModel):
    """How one business's calls are answered: the document stored under its id.

    Strict: a value of the wrong JSON type is refused, not coerced (``true`` is not a number
    of milliseconds, ``"30"`` not a timeout), so what is stored is what the schema promises.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    v: Literal[1] = Field(1, description="Schema version of the stored document.")
    business_id: BusinessId
    name: str = Field(min_length=1, max_length=200)
    phone_numbers: list[PhoneNumber] = Field(
        min_length=1,
        max_length=100,
        description="E.164 numbers this business answers; each belongs to one business only.",
    )
    instructions: str = Field(
        "You are a friendly, concise phone receptionist.", min_length=1, max_length=20000
    )
    greeting: str = Field(
        "Hello, thanks for calling. How can I help?",
        min_length=1,
        max_length=1000,
        description="What the agent says first, verbatim.",
    )
    voice: str = Field(
        "marin",
        pattern=_VOICE,
        description="A Realtime voice (alloy, ash, ballad, coral, echo, sage, shimmer, verse, "
        "marin, cedar) or a custom voice id. A change is heard on new calls only: a call in "
        "progress keeps its voice (the Realtime API cannot change it once it has spoken).",
    )
    language: str = Field(
        "en",
        pattern=_LANGUAGE,
        description="BCP 47 tag (en, it, pt-BR): the language the agent speaks and the "
        "caller's audio is transcribed in.",
    )
    timezone: Annotated[str, AfterValidator(_check_timezone)] = Field(
        "UTC", description="IANA zone for the business's local time."
    )
    turn_detection: TurnDetection = Field(default_factory=TurnDetection)
    temperature: float | None = Field(
        None,
        ge=0.6,
        le=1.2,
        description="Sampling temperature (0.6 to 1.2, the Realtime range). Stored only: the "
        "GA Realtime session has no temperature field.",
    )
    max_output_tokens: Annotated[int, Field(ge=1, le=4096)] | Literal["inf"] = Field(
        "inf", description="Per reply: 1 to 4096, or 'inf'."
    )
    enabled_tools: list[ToolName] = Field(default_factory=_default_tools, max_length=64)
    transfer_number: PhoneNumber | None = Field(
        None, description="E.164 number to transfer callers to (none: no transfers)."
    )
    transfer_caller_id: Literal["caller", "business"] = Field(
        "caller",
        description="The number the person sees when a call is transferred: the caller's "
        "('caller') or the business number they called ('business').",
    )
    transfer_timeout_s: int = Field(
        20,
        ge=5,
        le=120,
        description="How long the transfer number rings; unanswered, busy or failed, the "
        "caller comes back to the agent, which tells them.",
    )
    max_call_length_s: int = Field(
        1800, ge=10, le=14400, description="A call is ended after this long (Twilio: 4 h max)."
    )
    caller_silence_timeout_s: int = Field(
        30, ge=5, le=3600, description="A call is ended after this much caller silence."
    )
    when_model_lost: Literal["hang_up", "transfer"] = Field(
        "hang_up",
        description="The model cannot be reached for the agent's whole outage window (10 s by "
        "default): the caller hears an apology, then the call is hung up ('hang_up') or "
        "transferred to transfer_number ('transfer'; with no transfer number, hung up). Either "
        "way call_ended says realtime_lost.",
    )
    holding_clip: HoldingClip | None = Field(
        None,
        description="The business's own holding line (see HoldingClip); none: the agent's own.",
    )
    keypress_while_speaking: Literal["interrupt", "after_reply"] = Field(
        "interrupt",
        description="A key pressed while the agent speaks: stops the agent and is answered at "
        "once, as speech does ('interrupt'), or is answered right after the current reply "
        "('after_reply').",
    )

    @model_validator(mode="after")
    def _consistent(self) -> BusinessProfile:
        _no_duplicates(self.phone_numbers, "phone number")
        _no_duplicates(self.enabled_tools, "tool")
        if self.transfer_number is not None and self.transfer_number in self.phone_numbers:
            raise ValueError("transfer_number must not be one of the business's own numbers")
        return self

    @property
    def transcription_language(self) -> str:
        """The ISO-639-1 part of :attr:`language` (what transcription accepts)."""
        return self.language.split("-", 1)[0]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_stored(cls, data: bytes | str) -> BusinessProfile:
        """Read a stored document tolerantly: fields a newer writer added are dropped (and
        logged), as every bus reader does; anything else invalid raises ``ValueError``."""
        raw = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("a business document is a JSON object")
        unknown = sorted(set(raw) - set(cls.model_fields))
        if unknown:
            log.info("business %s: ignoring unknown fields %s", raw.get("business_id"), unknown)
            raw = {k: v for k, v in raw.items() if k in cls.model_fields}
        return cls.model_validate(raw)


DEMO_BUSINESS = BusinessProfile(
    business_id="bellas-bistro",
    name="Bella's Bistro",
    phone_numbers=["+15550100"],
    instructions=(
        "You answer the phone for Bella's Bistro, an Italian restaurant. Be warm and brief. "
        "Answer questions about the restaurant from the knowledge base (query_knowledge_base), "
        "never from memory. Take a message with the take_message tool when the caller wants "
        "to reach the manager."
    ),
    greeting="Thanks for calling Bella's Bistro, this is the virtual host. How can I help?",
    timezone="Europe/Rome",
)


def number_owners(businesses: Iterable[BusinessProfile]) -> dict[str, str]:
    """Number → business id; raises ``ValueError`` when two businesses share a number."""
    owners: dict[str, str] = {}
    for business in businesses:
        for number in business.phone_numbers:
            owner = owners.setdefault(number, business.business_id)
            if owner != business.business_id:
                raise ValueError(
                    f"number {number} belongs to both {owner!r} and {business.business_id!r}"
                )
    return owners


def load_businesses_file(path: Path) -> list[BusinessProfile]:
    """A JSON list of profiles (``SWITCHBOARD_BUSINESSES_FILE``), numbers unique across them."""
    raw = json.loads(path.read_text())
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a JSON list of businesses")
    businesses = [BusinessProfile.model_validate(item) for item in raw]
    number_owners(businesses)
    return businesses


class BusinessLookup(Protocol):
    """What services read: :class:`BusinessDirectory` or the live, bucket-backed directory."""

    def get(self, business_id: str) -> BusinessProfile | None: ...

    def by_number(self, number: str) -> BusinessProfile | None: ...

    def all(self) -> list[BusinessProfile]: ...


class BusinessDirectory:
    """Looks businesses up by id or by the number that was called (a fixed list)."""

    def __init__(self, businesses: list[BusinessProfile]) -> None:
        self._by_id = {b.business_id: b for b in businesses}
        self._by_number = {n: b for b in businesses for n in b.phone_numbers}

    @classmethod
    def load(cls, path: Path | None) -> BusinessDirectory:
        """Read a JSON list of profiles, or fall back to the embedded demo business."""
        if path is None:
            return cls([DEMO_BUSINESS])
        return cls(load_businesses_file(path))

    def by_number(self, number: str) -> BusinessProfile | None:
        return self._by_number.get(number)

    def get(self, business_id: str) -> BusinessProfile | None:
        return self._by_id.get(business_id)

    def all(self) -> list[BusinessProfile]:
        return sorted(self._by_id.values(), key=lambda b: b.business_id)
