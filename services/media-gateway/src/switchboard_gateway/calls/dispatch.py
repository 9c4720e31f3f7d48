"""Handing a new call to the agent pool (request-reply to a queue group)."""

from __future__ import annotations

import logging

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from switchboard_common import logs, subjects, tracing
from switchboard_common.messages import CallOffer, CallOfferReply

log = logging.getLogger(__name__)


class Dispatcher:
    """The agent that accepts an offer owns the call. Busy agents leave the queue group, so a
    decline is rare; a timeout or decline is retried a few times before giving up."""

    def __init__(self, nc: Client, timeout_s: float, attempts: int) -> None:
        self._nc = nc
        self._timeout_s = timeout_s
        self._attempts = attempts

    async def offer(self, offer: CallOffer) -> CallOfferReply | None:
        """Offer the call. This is where the call's trace begins: the offer span is the root,
        its context goes to the agent in the request's headers, and it stays current (with the
        call's log tags) for the rest of the webhook's request, so the TwiML can carry it on
        to the media stream (see :func:`stream_trace_parameters`)."""
        logs.bind_call(offer.call_id, offer.business_id)
        span = tracing.tracer().start_span(
            "call.offer",
            context=Context(),  # a new trace per call
            kind=SpanKind.CLIENT,
            attributes={"call.id": offer.call_id, "business.id": offer.business_id},
        )
        tracing.adopt(trace.set_span_in_context(span))
        try:
            reply = await self._offer(offer, tracing.inject_headers())
            span.set_attribute("call.accepted", reply is not None)
            if reply is not None:
                span.set_attribute("agent.id", reply.agent_id)
            return reply
        finally:
            span.end()

    async def reoffer(
        self, offer: CallOffer, timeout_s: float, agent_id: str | None = None
    ) -> CallOfferReply | None:
        """Offer a call that is already live (a resume after its agent was lost) once, to
        ``agent_id`` by name or else to the pool, within the trace and log scope the caller's
        code is already in (see ``handover`` for why its tries are short)."""
        subject = subjects.AGENT_DISPATCH if agent_id is None else subjects.agent_offer(agent_id)
        return await self._offer(offer, tracing.inject_headers(), timeout_s, 1, subject)

    async def _offer(
        self,
        offer: CallOffer,
        headers: dict[str, str],
        timeout_s: float | None = None,
        attempts: int | None = None,
        subject: str = subjects.AGENT_DISPATCH,
    ) -> CallOfferReply | None:
        payload = offer.to_bytes()
        timeout_s = timeout_s or self._timeout_s
        for attempt in range(1, (attempts or self._attempts) + 1):
            try:
                msg = await self._nc.request(subject, payload, timeout=timeout_s, headers=headers)
            except NoRespondersError:
                log.warning("call %s: no agent is listening", offer.call_id)
                return None
            except NatsTimeoutError:
                log.warning("call %s: offer %d timed out", offer.call_id, attempt)
                if not self._nc.is_connected:
                    # The bus is away: more tries would only keep the caller in silence.
                    log.warning("call %s: the bus is unavailable, not retrying", offer.call_id)
                    return None
                continue
            except Exception as exc:  # bus down or draining: the caller still gets an answer
                log.warning("call %s: offer failed: %s", offer.call_id, exc)
                return None
            try:
                reply = CallOfferReply.model_validate_json(msg.data)
            except ValidationError as exc:
                log.warning("call %s: unreadable offer reply: %s", offer.call_id, exc)
                continue
            if reply.accepted:
                return reply
            log.info("call %s: %s declined (%s)", offer.call_id, reply.agent_id, reply.reason)
        return None


def stream_trace_parameters() -> dict[str, str]:
    """The current trace context as TwiML ``<Parameter>``s: Twilio hands them back in the
    media stream's ``start``, whichever gateway takes the stream, so it joins the call's trace."""
    carrier: dict[str, str] = {}
    tracing.propagate_into(carrier)
    return carrier
