"""The caller on a media stream: connect, play the scenario turn by turn, tell how it ended.

Apart from the simulator so the call's flow (webhook, TwiML, which stream comes next) reads
without the turn-by-turn detail, and the stream's own state (the open stream, the recording)
stays with the code that keeps it.
"""

from __future__ import annotations

from collections.abc import Callable

from websockets.exceptions import InvalidStatus, WebSocketException

from switchboard_common.audio import FRAME_BYTES, SAMPLE_RATE, ULAW_SILENCE

from .config import CallConfig
from .outcome import CallFailed, CallResult
from .scenario import AgentDone, BargeIn, Delay, Now, Scenario, Turn
from .signing import UrlMapError, map_stream_url
from .stream import CallClock, LogFn, StreamClosed, TwilioMediaStream
from .twiml import ConnectStream

#: The close code of a websocket that broke without a closing handshake.
CLOSE_ABNORMAL = 1006


class StreamCaller:
    """Runs the call's media streams, one after another, for :class:`CallSimulator`."""

    def __init__(
        self,
        config: CallConfig,
        clock: CallClock,
        log: LogFn,
        ended_by_update: Callable[[], bool],
    ) -> None:
        self.config = config
        self.clock = clock
        self.stream: TwilioMediaStream | None = None
        self.recording = bytearray()
        self._log = log
        #: Whether a REST update (new TwiML, or a hang-up) ended the stream.
        self._ended_by_update = ended_by_update
        self._stream_started_at = 0.0

    async def connect(self, verb: ConnectStream, scenario: Scenario, result: CallResult) -> str:
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
            self.collect(self.stream, result)
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
        if self._ended_by_update():
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

    def collect(self, stream: TwilioMediaStream, result: CallResult) -> None:
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
            if len(self.recording) < lead:
                self.recording += bytes([ULAW_SILENCE]) * (lead - len(self.recording))
            self.recording += stream.recording
