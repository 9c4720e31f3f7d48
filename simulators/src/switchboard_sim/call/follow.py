"""The TwiML Twilio runs outside a media stream, and whether the call ended as scripted.

Before the stream, after the gateway closes it (the ``<Connect action>`` and the verbs it
answers, a ``<Dial>``), or after a REST update. Apart from the simulator so the call's flow
reads as which stream comes next, not how each verb is followed.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import CallConfig
from .dial import DialError, DialRun, Request
from .outcome import CallFailed, CallResult
from .scenario import Scenario
from .signing import UrlMapError, map_http_url, resolve_url
from .stream import CallClock, LogFn
from .twiml import ConnectStream, Dial, Hangup, Pause, Reject, Say, TwimlError, Verb, parse_twiml


class TwimlFollower:
    """Follows TwiML verbs for :class:`CallSimulator`, requesting as Twilio requests."""

    def __init__(
        self,
        config: CallConfig,
        clock: CallClock,
        log: LogFn,
        request: Request,
        call_params: Callable[[str], dict[str, str]],
    ) -> None:
        self.config = config
        self.clock = clock
        self._log = log
        self._request = request
        self._call_params = call_params

    async def follow(self, verb: Verb, result: CallResult, *, after_stream: bool) -> bool:
        """Run one verb other than ``<Connect>``; True when it ends the call."""
        if isinstance(verb, Say):
            self._log(f"twiml <Say>: {verb.text}")
            if after_stream:
                result.said_after_close.append(verb.text)
        elif isinstance(verb, Pause):
            self._log(f"twiml <Pause> {verb.seconds:g} s")
            await self.clock.sleep(verb.seconds)
        elif isinstance(verb, Hangup):
            self._log("twiml <Hangup>: call ends")
            result.twiml_hangup = True
            return True
        elif isinstance(verb, Reject):
            self._log(f"twiml <Reject>: {verb.reason}")
            return True
        elif isinstance(verb, Dial):
            self._log(f"twiml <Dial>: {verb.number} (call transferred)")
            result.dialed = verb.number
            return True
        else:
            raise CallFailed("a second <Connect><Stream> is not supported")
        return False

    async def after_stream(
        self,
        verb: ConnectStream,
        rest: list[Verb],
        document_url: str,
        scenario: Scenario,
        result: CallResult,
        answered: list[Verb] | None = None,
    ) -> ConnectStream | None:
        """The gateway closed the stream: Twilio requests ``<Connect action>`` (unless its
        TwiML is already ``answered``) and follows it, or without an action goes on with the
        verbs after ``<Connect>``. Then the scenario's remaining turn decides whether this
        ending was the expected one. Returns the next stream when the call goes on (the
        caller back from a transfer nobody took)."""
        followed = False
        back: ConnectStream | None = None
        try:
            if answered is not None:
                rest = answered
            elif verb.action is not None:
                rest = await self.request_action(verb, document_url, result)
            back = await self._run_verbs(rest, document_url, result)
            followed = True
        finally:
            self._check_ending(scenario, result, followed, back is not None)
        return back

    async def after_update(
        self, verbs: list[Verb], document_url: str, scenario: Scenario, result: CallResult
    ) -> ConnectStream | None:
        """A REST update ended the stream: follow the ``verbs`` it brought, then check the
        ending as :meth:`after_stream` does."""
        followed = False
        back: ConnectStream | None = None
        try:
            back = await self._run_verbs(verbs, document_url, result)
            followed = True
        finally:
            self._check_ending(scenario, result, followed, back is not None)
        return back

    async def _run_verbs(
        self, verbs: list[Verb], document_url: str, result: CallResult
    ) -> ConnectStream | None:
        """Follow the TwiML after a stream. A ``<Connect><Stream>`` in it (which a ``<Dial>``
        action may answer) is returned, to be streamed; None when the call is over."""
        pending = list(verbs)
        while pending:
            verb = pending.pop(0)
            if isinstance(verb, ConnectStream):
                return verb
            if isinstance(verb, Dial):
                after = await self._dial(verb, document_url, result)
                if after is None:
                    return None  # put through: the call is the person's
                if verb.action is not None:
                    pending = after  # the action's TwiML replaces what followed <Dial>
                continue
            if await self.follow(verb, result, after_stream=True):
                return None
        return None

    async def _dial(self, verb: Dial, document_url: str, result: CallResult) -> list[Verb] | None:
        cfg = self.config
        result.dialed = verb.number
        result.dial_caller_id = verb.caller_id
        result.dial_timeout_s = verb.timeout
        run = DialRun(
            outcome=cfg.dial_outcome,
            answer_after_s=cfg.dial_answer_after_s,
            talk_s=cfg.dial_talk_s,
            clock=self.clock,
            request=self._request,
            call_params=self._call_params("in-progress"),
            public_base_url=cfg.public_base_url,
            gateway_url=cfg.gateway_url,
            log=self._log,
        )
        try:
            return await run.run(verb, document_url)
        except DialError as exc:
            raise CallFailed(str(exc)) from exc
        finally:
            result.dial_status = cfg.dial_outcome
            result.errors.extend(run.warnings)

    async def request_action(
        self, verb: ConnectStream, document_url: str, result: CallResult
    ) -> list[Verb]:
        cfg = self.config
        assert verb.action is not None
        url = resolve_url(verb.action, document_url)
        result.action_url = url
        try:
            target = map_http_url(url, cfg.public_base_url, cfg.gateway_url)
        except UrlMapError as exc:
            raise CallFailed(f"<Connect action>: {exc}") from exc
        self._log(f"<Connect action>: {verb.method} {url}")
        resp = await self._request(verb.method, url, target, self._call_params("in-progress"))
        result.action_status = resp.status_code
        if resp.status_code != 200:
            raise CallFailed(
                f"<Connect action> {url} answered HTTP {resp.status_code}: {resp.text[:200]}"
            )
        try:
            return parse_twiml(resp.text)
        except TwimlError as exc:
            raise CallFailed(f"bad TwiML from the <Connect action> {url}: {exc}") from exc

    def _check_ending(
        self, scenario: Scenario, result: CallResult, followed: bool, back: bool = False
    ) -> None:
        """After a gateway-closed stream: was that the end the scenario expected? ``back``:
        the call came back on a new stream after a transfer, which carries the scenario on."""
        turns = scenario.turns
        done = result.turns_completed
        if back:
            turn = turns[done - 1] if done else None
            if turn is None or turn.kind != "expect_transfer":
                result.errors.append(f"the call came back on a new stream after turn {done}")
            elif result.dialed != turn.number:
                result.errors.append(f"turn {done}: <Dial> transferred to {result.dialed}")
            return
        if done and turns[done - 1].expects_end:
            number, turn = done, turns[done - 1]
        elif done < len(turns) and turns[done].expects_end:
            number, turn = done + 1, turns[done]  # closed just before the turn began
        elif done < len(turns):
            pending = turns[done]
            msg = (
                f"gateway closed the stream before turn {done + 1} ({pending.describe()}) was done"
            )
            if followed:
                msg += (
                    f"; the call was then transferred to {result.dialed}"
                    if result.dialed is not None
                    else "; the call then ended"
                )
            result.errors.append(msg)
            return
        else:
            return
        if not followed:
            return  # the TwiML after the stream failed: that error says it all
        what = f"turn {number} ({turn.describe()})"
        if turn.kind == "expect_hangup" and result.dialed is not None:
            result.errors.append(f"{what}: the call was transferred to {result.dialed} instead")
        elif turn.kind == "expect_transfer" and result.dialed is None:
            result.errors.append(f"{what}: the call ended without a <Dial>")
        elif turn.kind == "expect_transfer" and result.dialed != turn.number:
            result.errors.append(f"{what}: <Dial> transferred the call to {result.dialed}")
        else:
            result.turns_completed = number
