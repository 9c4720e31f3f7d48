"""Cutting the agent's reply short where the caller stopped hearing it.

Why: a barge-in and a dropped Realtime link end a reply the same way: clear what Twilio still
holds, ask the gateway how far playback got, and record (and truncate) the reply there, so the
transcript, the call events and the model's own conversation match what the caller heard.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from nats.aio.client import Client

from switchboard_common import tracing
from switchboard_common.messages import ClearPlayback, PlaybackPosition

from . import metrics
from .playback import truncation_for
from .realtime.link import RealtimeLink
from .reply import ReplyState
from .settings import AgentSettings

log = logging.getLogger(__name__)


class PlaybackCutter:
    def __init__(
        self,
        call_id: str,
        nc: Client,
        gateway_subject: str,
        settings: AgentSettings,
        reply: ReplyState,
        link: Callable[[], RealtimeLink | None],
    ) -> None:
        self._call_id = call_id
        self._nc = nc
        self._gateway_subject = gateway_subject
        self._settings = settings
        self._reply = reply
        self._link = link

    async def barge_in(self, speech_started_at: float | None) -> None:
        """The caller talks over the agent: stop the audio where the caller stopped hearing it.

        1. Clear Twilio's buffer (the gateway answers with the playback position).
        2. Cancel the response if the server is not doing so itself.
        3. Truncate the assistant item at what was played, clamped to what was produced,
           and not at all when it had finished playing (truncating then would be an error).
        """
        reply = self._reply
        response_id = reply.active_response
        if response_id is not None:
            reply.interrupted.add(response_id)
        item_id = reply.ledger.current_item
        if item_id is None or (not reply.playing() and response_id is None):
            return
        metrics.BARGE_INS.inc()
        with tracing.tracer().start_as_current_span("agent.barge_in") as span:
            position = await self.clear_playback()
            span.set_attribute("barge_in.confirmed", position is not None)
        if position is not None and speech_started_at is not None:
            metrics.BARGE_IN_LATENCY.observe(time.perf_counter() - speech_started_at)
        link = self._link()
        if link is None:
            return
        if response_id is not None and not self._settings.interrupt_response:
            await link.cancel_response()
        if position is None:
            return
        decision = truncation_for(
            reply.ledger, item_id, position.last_chunk, position.ms_since_mark
        )
        reply.turns.cut(item_id, decision.audio_end_ms)
        if decision.audio_end_ms is not None:
            await link.truncate(item_id, decision.audio_end_ms)
            log.info(
                "call %s: barge-in, %s truncated at %d of %.0f ms",
                self._call_id,
                item_id,
                decision.audio_end_ms,
                decision.produced_ms,
            )

    async def cut_at_drop(self) -> None:
        """The link died while the model was still answering: the rest of that answer will
        never come, so stop what Twilio still holds of it and record the reply as far as the
        caller heard it (the new session then answers again from there)."""
        reply = self._reply
        response_id, reply.active_response = reply.active_response, None
        item_id = reply.ledger.current_item
        if response_id is None or item_id is None:
            return
        reply.interrupted.add(response_id)
        position = await self.clear_playback()
        played: int | None = None
        if position is not None:
            decision = truncation_for(
                reply.ledger, item_id, position.last_chunk, position.ms_since_mark
            )
            played = decision.audio_end_ms
        if played is None:
            # All the audio it had produced was heard, but the answer itself was cut short:
            # it is still an interrupted reply, and the new session owes the rest.
            played = int(reply.ledger.produced_ms(item_id))
        reply.turns.cut(item_id, played)
        reply.turns.spoken(item_id, reply.in_flight.pop(item_id))

    async def cut_at_stream_loss(self) -> bool:
        """The call's media stream broke with its gateway and a new one is open: whatever the
        lost gateway still held never reached the caller. Stop the reply in progress and
        truncate it at the last audio Twilio confirmed played (what the caller surely heard);
        True when a reply was cut, so the caller is owed the rest of it."""
        reply = self._reply
        response_id, item_id = reply.active_response, reply.ledger.current_item
        link = self._link()
        if link is None or item_id is None or (not reply.playing() and response_id is None):
            return False
        if response_id is not None:
            reply.interrupted.add(response_id)
            await link.cancel_response()
        decision = truncation_for(reply.ledger, item_id, reply.idle_through, 0.0)
        reply.turns.cut(item_id, decision.audio_end_ms)
        if decision.audio_end_ms is not None:
            await link.truncate(item_id, decision.audio_end_ms)
        reply.idle_through = reply.ledger.last_seq  # none of the old audio will play now
        log.info(
            "call %s: stream lost, %s cut at %s of %.0f ms",
            self._call_id,
            item_id,
            decision.audio_end_ms,
            decision.produced_ms,
        )
        return True

    async def clear_playback(self) -> PlaybackPosition | None:
        try:
            reply = await self._nc.request(
                self._gateway_subject,
                ClearPlayback(call_id=self._call_id).to_bytes(),
                timeout=self._settings.clear_timeout_s,
                headers=tracing.inject_headers(),
            )
            return PlaybackPosition.model_validate_json(reply.data)
        except Exception as exc:
            log.warning("call %s: gateway did not confirm the clear: %s", self._call_id, exc)
            return None
