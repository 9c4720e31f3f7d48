"""What Twilio does with a ``<Dial>``: ring the number, and report how the dial ended.

The outcome is the call's to choose (:attr:`CallConfig.dial_outcome`), and each is played as
Twilio plays it:

* ``completed``: the person answers (after ``dial_answer_after_s``); Twilio requests the
  ``<Number statusCallback>`` with ``CallStatus=in-progress`` when ``answered`` is among its
  events; the two talk for ``dial_talk_s``; then the ``<Dial action>`` gets
  ``DialCallStatus=completed``;
* ``no-answer``: the number rings the whole ``<Dial timeout>``, then ``no-answer``;
* ``busy`` and ``failed``: at once.

With an action URL, its answer is the TwiML that follows (e.g. a new ``<Connect><Stream>``
bringing the caller back to the agent); without one, Twilio goes on with the verbs after
``<Dial>`` (nothing more after a completed dial: the caller has been served).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

import httpx

from .signing import UrlMapError, map_http_url, new_sid, resolve_url
from .stream import CallClock
from .twiml import Dial, TwimlError, Verb, parse_twiml

DialOutcome = Literal["completed", "no-answer", "busy", "failed"]
#: Request(method, public URL, target URL, form) -> response, signed as Twilio signs.
Request = Callable[[str, str, str, dict[str, str]], Awaitable[httpx.Response]]


class DialError(Exception):
    """The gateway's answer to a dial report could not be followed."""


class DialRun:
    def __init__(
        self,
        *,
        outcome: DialOutcome,
        answer_after_s: float,
        talk_s: float,
        clock: CallClock,
        request: Request,
        call_params: dict[str, str],
        public_base_url: str,
        gateway_url: str,
        log: Callable[[str], None],
    ) -> None:
        self._outcome = outcome
        self._answer_after_s = answer_after_s
        self._talk_s = talk_s
        self._clock = clock
        self._request = request
        self._params = call_params
        self._public = public_base_url
        self._gateway = gateway_url
        self._log = log
        #: Problems Twilio would only log (a status callback that failed).
        self.warnings: list[str] = []

    async def run(self, verb: Dial, document_url: str) -> list[Verb] | None:
        """Dial, then the TwiML that follows: the action's answer, ``[]`` to go on after
        ``<Dial>``, or None when the caller was put through and the call is over."""
        outcome = self._outcome
        self._log(
            f"twiml <Dial> {verb.number} (rings {verb.timeout} s, caller ID "
            f"{verb.caller_id or 'the caller'}): {outcome}"
        )
        child = new_sid("CA")
        duration = 0.0
        if outcome == "completed":
            await self._clock.sleep(self._answer_after_s)
            if verb.status_callback is not None and "answered" in verb.status_events:
                await self._answered(verb, child, document_url)
            await self._clock.sleep(self._talk_s)
            duration = self._talk_s
        elif outcome == "no-answer":
            await self._clock.sleep(verb.timeout)
        if verb.action is None:
            return None if outcome == "completed" else []
        params = {
            **self._params,
            "DialCallStatus": outcome,
            "DialCallSid": child,
            "DialCallDuration": str(round(duration)),
        }
        url = resolve_url(verb.action, document_url)
        self._log(f"<Dial action>: {verb.method} {url} (DialCallStatus={outcome})")
        resp = await self._request(verb.method, url, self._target(url), params)
        if resp.status_code != 200:
            raise DialError(f"<Dial action> {url} answered HTTP {resp.status_code}")
        try:
            return parse_twiml(resp.text)
        except TwimlError as exc:
            raise DialError(f"bad TwiML from the <Dial action> {url}: {exc}") from exc

    async def _answered(self, verb: Dial, child: str, document_url: str) -> None:
        assert verb.status_callback is not None
        url = resolve_url(verb.status_callback, document_url)
        params = {
            **self._params,
            "CallSid": child,
            "ParentCallSid": self._params["CallSid"],
            "CallStatus": "in-progress",
            "Direction": "outbound-dial",
            "From": verb.caller_id or self._params.get("From", ""),
            "To": verb.number,
            "CallbackSource": "call-progress-events",
        }
        self._log(f"<Number statusCallback>: POST {url} (answered)")
        resp = await self._request("POST", url, self._target(url), params)
        if resp.status_code >= 300:
            self.warnings.append(f"<Number statusCallback> {url} answered HTTP {resp.status_code}")

    def _target(self, url: str) -> str:
        try:
            return map_http_url(url, self._public, self._gateway)
        except UrlMapError as exc:
            raise DialError(str(exc)) from exc
