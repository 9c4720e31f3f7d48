"""Place one simulated Twilio call against the gateway and report what happened.

Order of events mirrors Twilio: signed voice webhook → TwiML → ``<Connect><Stream>`` (signed
websocket upgrade, media at real time, caller script) → if the gateway closes the stream, the
``<Connect action>`` URL (signed like the webhook) and the TwiML it answers, or without an action
the TwiML verbs after ``<Connect>``; if the caller hangs up, ``stop`` and nothing more.

A stream that breaks without a close (the gateway's host died) is *lost*: Twilio requests the
``<Connect action>`` URL, or on some failures does nothing at all while the caller stays on the
line (see :attr:`CallConfig.stream_lost`). A ``<Connect><Stream>`` answered then, by the action
URL or by a REST update, opens a new stream for the same call, and the scenario carries on.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode, urlsplit

import httpx
from websockets.exceptions import InvalidStatus, WebSocketException

from switchboard_common.audio import FRAME_BYTES, SAMPLE_RATE, ULAW_SILENCE
from switchboard_common.messages import CallEvent

from .audio import write_ulaw_wav
from .dial import DialError, DialOutcome, DialRun
from .rest import TwilioRestStandIn
from .scenario import AgentDone, BargeIn, Delay, Now, Scenario, Turn
from .signing import (
    SIGNATURE_HEADER,
    UrlMapError,
    join_url,
    map_http_url,
    map_stream_url,
    new_sid,
    resolve_url,
)
from .signing import twilio_signature as sign
from .stream import CallClock, LogFn, StreamClosed, TurnLatency, TwilioMediaStream
from .transcript import TranscriptFollower, describe_event
from .twiml import ConnectStream, Dial, Hangup, Pause, Reject, Say, TwimlError, Verb, parse_twiml

#: The close code of a websocket that broke without a closing handshake.
CLOSE_ABNORMAL = 1006


def _stream_in(verbs: list[Verb]) -> ConnectStream | None:
    """The ``<Connect><Stream>`` of a TwiML document, if it has one."""
    return next((v for v in verbs if isinstance(v, ConnectStream)), None)


class CallFailed(Exception):
    """The call did not go as scripted; the message says where and why."""


@dataclass(slots=True)
class CallConfig:
    """Where to dial, what to sign, and who calls whom."""

    gateway_url: str
    public_base_url: str
    auth_token: str
    to_number: str = "+15550100"
    from_number: str = "+15557777"
    account_sid: str = field(default_factory=lambda: new_sid("AC"))
    call_sid: str = field(default_factory=lambda: new_sid("CA"))
    voice_path: str = "/twilio/voice"
    nats_url: str | None = None
    #: Keep the agent audio the caller heard (``CallResult.recording``); implied by record_path.
    record: bool = False
    record_path: Path | None = None
    #: 1.0 = real time. >1 compresses the whole call (pacing, playback, waits) for benchmarks.
    speed: float = 1.0
    #: Sign with a wrong token: the gateway must refuse (success = HTTP 403).
    bad_signature: bool = False
    http_timeout_s: float = 10.0
    #: Safety net over the whole call, in wall seconds.
    max_call_s: float = 600.0
    #: Printed lines go here as they happen (``print`` for the CLI); always kept in the result.
    log: LogFn | None = None
    #: Share one client across many calls (benchmarks); otherwise one per call.
    http_client: httpx.AsyncClient | None = None
    #: Twilio's REST API stand-in this call answers to (live-call updates: transfer, hang up).
    rest_api: TwilioRestStandIn | None = None
    #: What Twilio does when the stream breaks without a close: request the ``<Connect
    #: action>`` URL, or nothing ("wait": the caller waits in silence for a REST update).
    stream_lost: Literal["action", "wait"] = "action"
    #: How long a caller on a lost stream waits for the call to come back before hanging up.
    lost_wait_s: float = 10.0
    #: How a ``<Dial>`` ends (see :mod:`.dial`): the person answers and talks ``dial_talk_s``
    #: after ringing ``dial_answer_after_s``, nobody answers, the line is busy, or it fails.
    dial_outcome: DialOutcome = "completed"
    dial_answer_after_s: float = 0.5
    dial_talk_s: float = 1.0


@dataclass(slots=True)
class CallResult:
    """Everything observed on one call. ``ok`` means it went as scripted."""

    call_sid: str
    account_sid: str
    stream_sid: str = ""
    webhook_status: int | None = None
    twiml: str = ""
    stream_url: str | None = None
    custom_parameters: dict[str, str] = field(default_factory=dict)
    connected: bool = False
    handshake_status: int | None = None
    refused_as_expected: bool = False
    marks_received: list[str] = field(default_factory=list)
    marks_echoed: list[str] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    played_ms_at_clears: list[float] = field(default_factory=list)
    agent_bytes_received: int = 0
    agent_bytes_played: int = 0
    agent_bytes_dropped: int = 0
    caller_frames_sent: int = 0
    latencies: list[TurnLatency] = field(default_factory=list)
    #: (turn, seconds) of dead air inside the agent's replies (see TwilioMediaStream).
    playback_stalls: list[tuple[int, float]] = field(default_factory=list)
    turns_completed: int = 0
    close_code: int | None = None
    close_reason: str = ""
    #: Who ended the media stream: the caller, the gateway, or Twilio itself on a REST update.
    closed_by: Literal["caller", "gateway", "twilio", ""] = ""
    said_after_close: list[str] = field(default_factory=list)
    twiml_hangup: bool = False
    #: The ``<Connect action>`` URL requested after the stream (public form), and its HTTP status.
    action_url: str | None = None
    action_status: int | None = None
    #: The number a ``<Dial>`` transferred the call to, the caller ID and ring time it named,
    #: and how the dial ended (``DialCallStatus``).
    dialed: str | None = None
    dial_caller_id: str | None = None
    dial_timeout_s: int | None = None
    dial_status: str | None = None
    #: Live-call updates received over the REST API: "redirect" or "completed".
    rest_updates: list[str] = field(default_factory=list)
    #: Media streams the call had (more than one after a lost stream came back), and how each
    #: came back: "action" (the <Connect action> URL) or "rest" (a REST update).
    streams: int = 0
    reentries: list[str] = field(default_factory=list)
    transcript: list[CallEvent] = field(default_factory=list)
    recording: bytes | None = None
    duration_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def latency_summary(self) -> tuple[int, float, float]:
        """(count, p50 ms, max ms) of the turn latencies; zeros when none were measured."""
        values = [lat.latency_ms for lat in self.latencies]
        if not values:
            return 0, 0.0, 0.0
        return len(values), statistics.median(values), max(values)

    def summary(self) -> str:
        ms = 1000 / SAMPLE_RATE  # one μ-law byte
        n, p50, worst = self.latency_summary()
        lines = [
            f"call {self.call_sid}: webhook HTTP {self.webhook_status}, "
            + (
                f"stream connected, closed by {self.closed_by or '?'} (code {self.close_code})"
                if self.connected
                else "stream not connected"
            ),
            f"agent audio: received {self.agent_bytes_received * ms / 1000:.2f} s, "
            f"played {self.agent_bytes_played * ms / 1000:.2f} s, "
            f"dropped {self.agent_bytes_dropped * ms / 1000:.2f} s; "
            f"clears {len(self.clears)}; marks {len(self.marks_received)} received, "
            f"{len(self.marks_echoed)} echoed",
            f"turn latency: {n} turns" + (f", p50 {p50:.0f} ms, max {worst:.0f} ms" if n else ""),
        ]
        if self.action_url is not None:
            lines.append(f"<Connect action> {self.action_url}: HTTP {self.action_status}")
        if self.said_after_close:
            lines.append("said after the stream: " + " | ".join(self.said_after_close))
        if self.dialed is not None:
            lines.append(f"transferred to {self.dialed}")
        lines.extend(f"error: {e}" for e in self.errors)
        lines.append("RESULT: " + ("OK" if self.ok else "FAILED"))
        return "\n".join(lines)


class CallSimulator:
    """Runs one call per :meth:`run`; cheap enough to run hundreds concurrently."""

    def __init__(self, config: CallConfig) -> None:
        self.config = config
        self.clock = CallClock(config.speed)
        self.stream: TwilioMediaStream | None = None
        self._result: CallResult | None = None
        self._redirect: list[Verb] | None = None
        self._completed = False
        self._updated = asyncio.Event()
        self._rest_tasks: set[asyncio.Task[None]] = set()
        self._stream_started_at = 0.0
        self._recording = bytearray()

    def _log(self, text: str) -> None:
        line = f"[{self.clock.now():6.2f}s] {text}"
        if self._result is not None:
            self._result.log.append(line)
        if self.config.log is not None:
            self.config.log(line)

    async def run(self, scenario: Scenario) -> CallResult:
        cfg = self.config
        self.clock = CallClock(cfg.speed)
        result = self._result = CallResult(call_sid=cfg.call_sid, account_sid=cfg.account_sid)
        follower: TranscriptFollower | None = None
        if cfg.rest_api is not None:
            cfg.rest_api.register(cfg.account_sid, cfg.call_sid, self)
        try:
            async with asyncio.timeout(cfg.max_call_s):
                if cfg.nats_url:
                    follower = TranscriptFollower(cfg.nats_url, self._on_transcript)
                    follower.call_sid = cfg.call_sid
                    await follower.start()
                await self._call(scenario, result)
        except CallFailed as exc:
            result.errors.append(str(exc))
        except TimeoutError:
            result.errors.append(f"call exceeded max_call_s={cfg.max_call_s}")
        except (OSError, httpx.HTTPError) as exc:
            result.errors.append(f"cannot reach the gateway: {exc!r}")
        finally:
            if cfg.rest_api is not None:
                cfg.rest_api.unregister(cfg.call_sid)
            if self._rest_tasks:
                await asyncio.gather(*self._rest_tasks, return_exceptions=True)
            if self.stream is not None:
                await self.stream.aclose()
                self._collect(self.stream, result)
            if cfg.record or cfg.record_path is not None:
                result.recording = bytes(self._recording)
            if follower is not None:
                await follower.stop()
                result.errors.extend(follower.errors)
            result.duration_s = self.clock.now()
        if cfg.record_path is not None and result.recording is not None:
            write_ulaw_wav(cfg.record_path, result.recording)
        for e in result.errors:
            self._log(f"error: {e}")
        return result

    # --- live-call updates (Twilio's REST API) -----------------------------------------------

    async def redirect(self, verbs: list[Verb]) -> None:
        """A REST update with new TwiML: Twilio stops the media stream and runs ``verbs``."""
        self._log("REST update: new TwiML for the live call")
        if self._result is not None:
            self._result.rest_updates.append("redirect")
        self._redirect = verbs
        self._updated.set()
        self._end_stream_for_update()

    async def complete(self) -> None:
        """A REST update with ``Status=completed``: Twilio hangs the call up."""
        self._log("REST update: call completed")
        if self._result is not None:
            self._result.rest_updates.append("completed")
        self._completed = True
        self._updated.set()
        self._end_stream_for_update()

    def _end_stream_for_update(self) -> None:
        """Twilio answers the REST request at once and ends the stream meanwhile (``stop``,
        then close), as it does when a caller hangs up."""
        if self.stream is not None and not self.stream.closed:
            task = asyncio.create_task(self.stream.hang_up())
            self._rest_tasks.add(task)
            task.add_done_callback(self._rest_tasks.discard)

    def _on_transcript(self, event: CallEvent) -> None:
        assert self._result is not None
        self._result.transcript.append(event)
        self._log(describe_event(event))

    # --- webhook and TwiML -----------------------------------------------------------------

    def _call_params(self, status: str) -> dict[str, str]:
        cfg = self.config
        return {
            "AccountSid": cfg.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": cfg.call_sid,
            "CallStatus": status,
            "Called": cfg.to_number,
            "Caller": cfg.from_number,
            "Direction": "inbound",
            "From": cfg.from_number,
            "To": cfg.to_number,
        }

    async def _twilio_request(
        self, method: str, public_url: str, target: str, params: dict[str, str]
    ) -> httpx.Response:
        """Request ``target`` as Twilio requests ``public_url``: signed over the public URL.

        POST signs the URL plus the form params; GET puts the params in the query string and
        signs the whole URL.
        """
        cfg = self.config
        token = cfg.auth_token + "-wrong" if cfg.bad_signature else cfg.auth_token
        if method == "GET":
            query = urlencode(params)
            public_url += ("&" if urlsplit(public_url).query else "?") + query
            target += ("&" if urlsplit(target).query else "?") + query
            signature = sign(token, public_url, {})
        else:
            signature = sign(token, public_url, params)
        headers = {SIGNATURE_HEADER: signature, "User-Agent": "TwilioProxy/1.1", "Accept": "*/*"}
        client = cfg.http_client or httpx.AsyncClient(timeout=cfg.http_timeout_s)
        try:
            if method == "GET":
                return await client.get(target, headers=headers)
            return await client.post(target, data=params, headers=headers)
        finally:
            if cfg.http_client is None:
                await client.aclose()

    async def _call(self, scenario: Scenario, result: CallResult) -> None:
        cfg = self.config
        public_url = join_url(cfg.public_base_url, cfg.voice_path)
        self._log(f"calling {cfg.to_number} from {cfg.from_number} ({cfg.call_sid})")
        resp = await self._twilio_request(
            "POST",
            public_url,
            join_url(cfg.gateway_url, cfg.voice_path),
            self._call_params("ringing"),
        )
        result.webhook_status = resp.status_code
        result.twiml = resp.text
        if cfg.bad_signature:
            if resp.status_code == 403:
                result.refused_as_expected = True
                self._log("webhook with a bad signature refused (HTTP 403), as it must be")
                return
            raise CallFailed(f"webhook accepted a bad signature (HTTP {resp.status_code})")
        if resp.status_code != 200:
            raise CallFailed(f"webhook answered HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            verbs = parse_twiml(resp.text)
        except TwimlError as exc:
            raise CallFailed(f"bad TwiML: {exc}") from exc

        for index, verb in enumerate(verbs):
            if isinstance(verb, ConnectStream):
                await self._streams(verb, verbs[index + 1 :], public_url, scenario, result)
                return
            if await self._follow(verb, result, after_stream=False):
                break
        raise CallFailed("the TwiML ended the call without <Connect><Stream>")

    async def _streams(
        self,
        verb: ConnectStream,
        rest: list[Verb],
        document_url: str,
        scenario: Scenario,
        result: CallResult,
    ) -> None:
        """One media stream after another: a lost stream, or a REST update, may bring the call
        back on a new ``<Connect><Stream>``; anything else ends it."""
        while True:
            outcome = await self._connect(verb, scenario, result)
            if outcome == "caller":
                return  # the caller hung up: Twilio runs no more TwiML
            if outcome == "twilio":  # a REST update ended the stream: no <Connect action>
                again = _stream_in(self._redirect or [])
                if again is not None and not self._completed:
                    verb, self._redirect = again, None
                    self._updated.clear()
                    result.reentries.append("rest")
                    continue
                back = await self._after_update(document_url, scenario, result)
                if back is None:
                    return
                verb = back  # a transfer nobody took: the caller is back with the agent
                result.reentries.append("dial")
                continue
            if outcome == "lost":
                after = await self._after_loss(verb, document_url, result)
                if after is None:
                    return
                again = _stream_in(after)
                if again is not None:
                    verb = again
                    continue
                back = await self._after_stream(verb, rest, document_url, scenario, result, after)
            else:
                back = await self._after_stream(verb, rest, document_url, scenario, result)
            if back is None:
                return
            verb = back
            result.reentries.append("dial")

    async def _after_loss(
        self, verb: ConnectStream, document_url: str, result: CallResult
    ) -> list[Verb] | None:
        """The stream broke: what Twilio does next. With the action callback, the TwiML it
        answers; without, whatever a REST update brings within the caller's patience (None
        when nothing does: the caller hangs up)."""
        if self.config.stream_lost == "action" and verb.action is not None:
            after = await self._request_action(verb, document_url, result)
            if _stream_in(after) is not None:
                result.reentries.append("action")
            return after
        self._log(f"the stream is lost; the caller waits up to {self.config.lost_wait_s:g} s")
        try:
            async with asyncio.timeout(self.config.lost_wait_s):
                await self._updated.wait()
        except TimeoutError:
            result.errors.append(
                f"the stream was lost and nothing brought the call back in "
                f"{self.config.lost_wait_s:g} s: the caller hung up"
            )
            return None
        self._updated.clear()
        if self._completed:
            return []
        verbs, self._redirect = self._redirect or [], None
        if _stream_in(verbs) is not None:
            result.reentries.append("rest")
        return verbs

    async def _follow(self, verb: Verb, result: CallResult, *, after_stream: bool) -> bool:
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

    async def _after_stream(
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
                rest = await self._request_action(verb, document_url, result)
            back = await self._run_verbs(rest, document_url, result)
            followed = True
        finally:
            self._check_ending(scenario, result, followed, back is not None)
        return back

    async def _after_update(
        self, document_url: str, scenario: Scenario, result: CallResult
    ) -> ConnectStream | None:
        followed = False
        back: ConnectStream | None = None
        verbs, self._redirect = self._redirect or [], None
        self._updated.clear()
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
            if await self._follow(verb, result, after_stream=True):
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
            request=self._twilio_request,
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

    async def _request_action(
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
        resp = await self._twilio_request(
            verb.method, url, target, self._call_params("in-progress")
        )
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

    # --- the media stream --------------------------------------------------------------------

    async def _connect(self, verb: ConnectStream, scenario: Scenario, result: CallResult) -> str:
        cfg = self.config
        result.stream_url = verb.url
        result.custom_parameters = dict(verb.parameters)
        try:
            dial = map_stream_url(verb.url, cfg.public_base_url, cfg.gateway_url)
        except UrlMapError as exc:
            raise CallFailed(str(exc)) from exc
        try:
            stream = await TwilioMediaStream.open(
                dial,
                auth_token=cfg.auth_token + "-wrong" if cfg.bad_signature else cfg.auth_token,
                signed_url=verb.url,
                account_sid=cfg.account_sid,
                call_sid=cfg.call_sid,
                custom_parameters=verb.parameters,
                clock=self.clock,
                record=cfg.record or cfg.record_path is not None,
                log=self._log,
                open_timeout=cfg.http_timeout_s,
            )
        except InvalidStatus as exc:
            result.handshake_status = exc.response.status_code
            raise CallFailed(
                f"media stream upgrade refused: HTTP {exc.response.status_code}"
            ) from None
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise CallFailed(f"media stream connection failed: {exc!r}") from exc
        if self.stream is not None:  # the lost one this stream replaces
            self._collect(self.stream, result)
        self.stream = stream
        result.streams += 1
        result.connected = True
        result.stream_sid = stream.stream_sid
        result.handshake_status = 101
        stream.on_latency = lambda lat: self._log(
            f"turn {lat.turn} latency {lat.latency_ms:.0f} ms"
        )
        self._log(f"media stream connected ({stream.stream_sid}) {verb.parameters}")
        self._stream_started_at = self.clock.now()
        await stream.begin()
        try:
            await self._run_turns(stream, scenario, result)
        except StreamClosed:
            stream_closed = True
        except CallFailed:
            if not stream.closed:  # fail like a caller would: say goodbye properly
                self._log("caller hangs up (scenario failed)")
                await stream.hang_up()
                result.closed_by = "caller"
            raise
        else:
            stream_closed = stream.closed and not stream.closed_by_caller
        if self._redirect is not None or self._completed:
            await stream.wait_closed(5)
            result.closed_by = "twilio"
            self._log("Twilio ended the stream for a REST update")
            return "twilio"
        if not stream_closed:
            self._log("caller hangs up")
            await stream.hang_up()
            result.closed_by = "caller"
            return "caller"
        await stream.wait_closed(5)
        if stream.close_code == CLOSE_ABNORMAL:
            result.closed_by = ""
            self._log("the stream broke without a close (the gateway is gone)")
            return "lost"
        result.closed_by = "gateway"
        self._log(f"gateway closed the stream (code {stream.close_code} {stream.close_reason!r})")
        return "gateway"

    async def _run_turns(
        self, stream: TwilioMediaStream, scenario: Scenario, result: CallResult
    ) -> None:
        ref = self.clock.now()  # when the caller last acted: agent activity after this counts
        for number, turn in enumerate(scenario.turns, 1):
            if number <= result.turns_completed:
                continue  # done on a stream that was lost: this one carries the call on
            await self._wait_after(stream, turn, number, ref, scenario)
            if turn.kind == "say":
                assert turn.utterance is not None
                self._log(f"turn {number}: caller says {turn.text!r}")
                ref = await stream.speak(turn.utterance, turn=number)
                await stream.wait_until(lambda: not stream.speaking, 60)
            elif turn.kind == "dtmf":
                self._log(f"turn {number}: caller presses {turn.digits}")
                for digit in turn.digits:
                    await stream.send_dtmf(digit)
                ref = self.clock.now()
                stream.arm_latency(number, ref)
            elif turn.expects_end:
                self._log(
                    f"turn {number}: waiting for the agent to "
                    + ("hang up" if turn.kind == "expect_hangup" else f"transfer to {turn.number}")
                )
                try:
                    await stream.wait_closed(self.clock.wall(scenario.agent_timeout_s))
                except TimeoutError:
                    raise CallFailed(
                        f"turn {number}: the gateway did not end the call within "
                        f"{scenario.agent_timeout_s:g} s"
                    ) from None
                result.turns_completed = number
                raise StreamClosed("expected hangup")
            result.turns_completed = number
            if turn.kind == "hangup":
                return

    async def _wait_after(
        self, stream: TwilioMediaStream, turn: Turn, number: int, ref: float, sc: Scenario
    ) -> None:
        after = turn.after
        what = f"turn {number} ({turn.describe()})"
        if isinstance(after, Now):
            return
        if isinstance(after, Delay):
            until = self.clock.now() + after.ms / 1000
            await stream.wait_until(lambda: self.clock.now() >= until, after.ms / 1000 + 1)
            return
        try:
            if isinstance(after, AgentDone):
                await stream.wait_until(lambda: stream.last_media_at >= ref, sc.agent_timeout_s)
            else:
                await stream.wait_until(lambda: stream.play_started_at >= ref, sc.agent_timeout_s)
        except TimeoutError:
            raise CallFailed(
                f"{what}: the agent did not start a reply within {sc.agent_timeout_s:g} s"
            ) from None
        if isinstance(after, BargeIn):
            until = stream.play_started_at + after.ms / 1000
            await stream.wait_until(lambda: self.clock.now() >= until, after.ms / 1000 + 1)
            if stream.playback_idle():
                self._log(f"{what}: the agent's reply ended before the barge-in point")
            return
        quiet = sc.quiet_ms / 1000
        limit = max(60.0, sc.agent_timeout_s)
        try:
            await stream.wait_until(
                lambda: stream.playback_idle() and stream.agent_quiet_for() >= quiet, limit
            )
        except TimeoutError:
            raise CallFailed(
                f"{what}: the agent's reply did not finish (marks back, {sc.quiet_ms} ms quiet) "
                f"within {limit:g} s; pending marks {stream.pending_marks}"
            ) from None
        until = self.clock.now() + sc.pause_ms / 1000
        await stream.wait_until(lambda: self.clock.now() >= until, sc.pause_ms / 1000 + 1)

    def _collect(self, stream: TwilioMediaStream, result: CallResult) -> None:
        """Add what one stream observed to the call's result (once per stream)."""
        result.marks_received += stream.marks_received
        result.marks_echoed += stream.marks_echoed
        result.clears += stream.clears
        result.played_ms_at_clears += stream.played_ms_at_clears
        result.agent_bytes_received += stream.agent_bytes_received
        result.agent_bytes_played += stream.agent_bytes_played
        result.agent_bytes_dropped += stream.agent_bytes_dropped
        result.caller_frames_sent += stream.caller_frames_sent
        result.latencies += stream.latencies
        result.playback_stalls += stream.playback_stalls
        result.close_code = stream.close_code
        result.close_reason = stream.close_reason
        result.errors[:0] = stream.errors
        if stream.recording is not None:
            # Silence from the webhook (or the lost stream) to this stream's start keeps the
            # recording on the call's timeline.
            lead = round(self._stream_started_at * SAMPLE_RATE / FRAME_BYTES) * FRAME_BYTES
            if len(self._recording) < lead:
                self._recording += bytes([ULAW_SILENCE]) * (lead - len(self._recording))
            self._recording += stream.recording
