"""Handing a new call to an agent: by name to one heard beating with room, else to the pool.

Why by name first: an agent that hangs (a stalled VM, a deadlock) keeps its subscriptions on
the server until the server's pings give up on it, minutes later. Offers to the pool's queue
group keep landing on it meanwhile: each such try costs the caller its whole timeout in
ringing, and a call whose every try landed there was refused while another agent was free.
The gateway hears every agent's heartbeat (and its room), stops choosing one that went quiet
within three beats, and never offers one call twice to the same agent. The pool is the
fallback for agents not heard from yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

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


#: The agents to offer a call to, best first, leaving out those given (see
#: ``AgentLiveness.takers``).
Takers = Callable[[Collection[str]], list[str]]


def _nobody(_: Collection[str]) -> list[str]:
    return []


class Dispatcher:
    """The agent that accepts an offer owns the call. A timeout or decline is retried a few
    times, each try with an agent not tried yet, before giving up."""

    def __init__(
        self, nc: Client, timeout_s: float, attempts: int, takers: Takers = _nobody
    ) -> None:
        self._nc = nc
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._takers = takers

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
        subject: str | None = None,
    ) -> CallOfferReply | None:
        """Up to ``attempts`` tries: to ``subject`` when given, else each to the best agent
        not tried yet (:attr:`_takers`), or to the pool when none is known. A named agent's
        quick decline (full since its last beat, draining) or absence does not use up a try:
        it cost milliseconds, and each agent is asked once."""
        payload = offer.to_bytes()
        timeout_s = timeout_s or self._timeout_s
        tried: set[str] = set()
        tries = attempts or self._attempts
        while tries > 0:
            named = None if subject is not None else next(iter(self._takers(tried)), None)
            if named is not None:
                tried.add(named)
            to = subject or (subjects.agent_offer(named) if named else subjects.AGENT_DISPATCH)
            try:
                msg = await self._nc.request(to, payload, timeout=timeout_s, headers=headers)
            except NoRespondersError:
                if named is not None:
                    continue  # that agent is gone since its last beat: the next one
                log.warning("call %s: no agent is listening", offer.call_id)
                return None
            except NatsTimeoutError:
                tries -= 1
                log.warning("call %s: offer to %s timed out", offer.call_id, to)
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
                tries -= 1
                log.warning("call %s: unreadable offer reply: %s", offer.call_id, exc)
                continue
            if reply.accepted:
                return reply
            if named is None:
                tries -= 1
            log.info("call %s: %s declined (%s)", offer.call_id, reply.agent_id, reply.reason)
        return None


def stream_trace_parameters() -> dict[str, str]:
    """The current trace context as TwiML ``<Parameter>``s: Twilio hands them back in the
    media stream's ``start``, whichever gateway takes the stream, so it joins the call's trace."""
    carrier: dict[str, str] = {}
    tracing.propagate_into(carrier)
    return carrier
