"""The slice of TwiML a media-streaming voice app answers with, parsed into verbs to follow.

Twilio runs the verbs in order; ``<Connect><Stream>`` blocks until the websocket closes, then the
verbs after it run — unless ``<Connect action="URL">`` is set: then Twilio requests that URL and
follows the TwiML it answers instead. ``<Dial>`` transfers the call to a number. Anything else this
simulator cannot follow is reported, not ignored.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


class TwimlError(ValueError):
    """TwiML that Twilio would reject or that the simulator cannot follow."""


@dataclass(frozen=True, slots=True)
class Say:
    text: str


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str


@dataclass(frozen=True, slots=True)
class Dial:
    number: str
    #: ``<Dial timeout>``: seconds the number rings before the dial ends as ``no-answer``.
    timeout: int = 30
    #: ``<Dial action>``: requested with ``DialCallStatus`` once the dial is over; its TwiML
    #: replaces the rest. Without it, Twilio goes on with the verbs after ``<Dial>``.
    action: str | None = None
    method: str = "POST"
    #: ``<Dial callerId>``: the number the dialed party sees (default: the caller's).
    caller_id: str | None = None
    #: ``<Number statusCallback>`` and the events it is requested for.
    status_callback: str | None = None
    status_events: tuple[str, ...] = ("completed",)


@dataclass(frozen=True, slots=True)
class ConnectStream:
    url: str
    parameters: dict[str, str] = field(default_factory=dict)
    #: ``<Connect action>``: requested when the stream ends; its TwiML replaces the rest.
    action: str | None = None
    #: ``<Connect method>``: how the action URL is requested, ``POST`` (default) or ``GET``.
    method: str = "POST"


Verb = Say | Pause | Hangup | Reject | Dial | ConnectStream


def parse_twiml(text: str) -> list[Verb]:
    """Parse a ``<Response>`` into the verbs the simulator follows."""
    try:
        root = ET.fromstring(text)  # noqa: S314 - trusted input: the gateway under test
    except ET.ParseError as exc:
        raise TwimlError(f"TwiML is not well-formed XML: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"TwiML root must be <Response>, got <{root.tag}>")
    verbs: list[Verb] = []
    for el in root:
        if el.tag == "Say":
            verbs.append(Say((el.text or "").strip()))
        elif el.tag == "Pause":
            verbs.append(Pause(float(el.get("length", "1"))))
        elif el.tag == "Hangup":
            verbs.append(Hangup())
        elif el.tag == "Reject":
            verbs.append(Reject(el.get("reason", "rejected")))
        elif el.tag == "Dial":
            verbs.append(_parse_dial(el))
        elif el.tag == "Connect":
            verbs.append(_parse_connect(el))
        else:
            raise TwimlError(f"the simulator does not follow <{el.tag}>")
    return verbs


def _parse_dial(el: ET.Element) -> Dial:
    """``<Dial>+1555…</Dial>`` or ``<Dial><Number>+1555…</Number></Dial>`` (one number), with
    ``timeout``, ``action``, ``method`` and ``callerId``, and the ``<Number>``'s status
    callback."""
    nested = list(el)
    callback: str | None = None
    events: tuple[str, ...] = ("completed",)
    if nested:
        if (el.text or "").strip():
            raise TwimlError("<Dial> holds both a number and nested nouns")
        if len(nested) != 1 or nested[0].tag != "Number":
            tags = ", ".join(f"<{n.tag}>" for n in nested)
            raise TwimlError(f"<Dial> must hold one number or one <Number>, got {tags}")
        number = (nested[0].text or "").strip()
        callback = nested[0].get("statusCallback") or None
        events = tuple(nested[0].get("statusCallbackEvent", "completed").split())
    else:
        number = (el.text or "").strip()
    if not number:
        raise TwimlError("<Dial> has no number to dial")
    try:
        timeout = int(el.get("timeout", "30"))
    except ValueError:
        raise TwimlError(
            f"<Dial timeout> must be whole seconds, got {el.get('timeout')!r}"
        ) from None
    if not 5 <= timeout <= 600:
        raise TwimlError(f"<Dial timeout> must be 5 to 600 s, got {timeout}")
    method = el.get("method", "POST").upper()
    if method not in ("GET", "POST"):
        raise TwimlError(f"<Dial method> must be GET or POST, got {method!r}")
    return Dial(
        number,
        timeout=timeout,
        action=el.get("action") or None,
        method=method,
        caller_id=el.get("callerId") or None,
        status_callback=callback,
        status_events=events,
    )


def _parse_connect(el: ET.Element) -> ConnectStream:
    action = el.get("action") or None
    method = el.get("method", "POST").upper()
    if method not in ("GET", "POST"):
        raise TwimlError(f"<Connect method> must be GET or POST, got {method!r}")
    streams = list(el)
    if len(streams) != 1 or streams[0].tag != "Stream":
        raise TwimlError("<Connect> must hold exactly one <Stream>")
    stream = streams[0]
    url = stream.get("url")
    if not url:
        raise TwimlError("<Stream> has no url attribute")
    params: dict[str, str] = {}
    for p in stream:
        if p.tag != "Parameter":
            raise TwimlError(f"<Stream> may only hold <Parameter>, got <{p.tag}>")
        name = p.get("name")
        if not name:
            raise TwimlError("<Parameter> without a name")
        params[name] = p.get("value", "")
    return ConnectStream(url=url, parameters=params, action=action, method=method)
