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
from urllib.parse import urlencode, urlsplit

import httpx

from switchboard_common.messages import CallEvent

from .audio import write_ulaw_wav
from .caller import StreamCaller
from .config import CallConfig
from .follow import TwimlFollower
from .outcome import CallFailed, CallResult
from .scenario import Scenario
from .signing import SIGNATURE_HEADER, join_url
from .signing import twilio_signature as sign
from .stream import CallClock, TwilioMediaStream
from .transcript import TranscriptFollower, describe_event
from .twiml import ConnectStream, TwimlError, Verb, parse_twiml

# The call's settings and result live in their own modules; importers find them here too.
__all__ = ["CallConfig", "CallFailed", "CallResult", "CallSimulator"]


def _stream_in(verbs: list[Verb]) -> ConnectStream | None:
    """The ``<Connect><Stream>`` of a TwiML document, if it has one."""
    return next((v for v in verbs if isinstance(v, ConnectStream)), None)


class CallSimulator:
    """Runs one call per :meth:`run`; cheap enough to run hundreds concurrently."""

    def __init__(self, config: CallConfig) -> None:
        self.config = config
        self.clock = CallClock(config.speed)
        self._result: CallResult | None = None
        self._redirect: list[Verb] | None = None
        self._completed = False
        self._updated = asyncio.Event()
        self._rest_tasks: set[asyncio.Task[None]] = set()
        self._caller = StreamCaller(
            config, self.clock, self._log, lambda: self._redirect is not None or self._completed
        )
        self._twiml = TwimlFollower(
            config, self.clock, self._log, self._twilio_request, self._call_params
        )

    @property
    def stream(self) -> TwilioMediaStream | None:
        """The call's media stream: the current one, or the last once the call is over."""
        return self._caller.stream

    def _log(self, text: str) -> None:
        line = f"[{self.clock.now():6.2f}s] {text}"
        if self._result is not None:
            self._result.log.append(line)
        if self.config.log is not None:
            self.config.log(line)

    async def run(self, scenario: Scenario) -> CallResult:
        cfg = self.config
        self.clock = CallClock(cfg.speed)
        self._caller.clock = self._twiml.clock = self.clock  # each run times its own call
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
                self._caller.collect(self.stream, result)
            if cfg.record or cfg.record_path is not None:
                result.recording = bytes(self._caller.recording)
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
            if await self._twiml.follow(verb, result, after_stream=False):
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
            outcome = await self._caller.connect(verb, scenario, result)
            if outcome == "caller":
                return  # the caller hung up: Twilio runs no more TwiML
            if outcome == "twilio":  # a REST update ended the stream: no <Connect action>
                again = _stream_in(self._redirect or [])
                if again is not None and not self._completed:
                    verb, self._redirect = again, None
                    self._updated.clear()
                    result.reentries.append("rest")
                    continue
                verbs, self._redirect = self._redirect or [], None
                self._updated.clear()
                back = await self._twiml.after_update(verbs, document_url, scenario, result)
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
                back = await self._twiml.after_stream(
                    verb, rest, document_url, scenario, result, after
                )
            else:
                back = await self._twiml.after_stream(verb, rest, document_url, scenario, result)
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
            after = await self._twiml.request_action(verb, document_url, result)
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
