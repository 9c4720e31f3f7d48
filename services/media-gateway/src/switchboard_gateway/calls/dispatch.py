"""Handing a new call to the agent pool (request-reply to a queue group)."""

from __future__ import annotations

import logging

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import ValidationError

from switchboard_common import subjects
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
        payload = offer.to_bytes()
        for attempt in range(1, self._attempts + 1):
            try:
                msg = await self._nc.request(
                    subjects.AGENT_DISPATCH, payload, timeout=self._timeout_s
                )
            except NoRespondersError:
                log.warning("call %s: no agent is listening", offer.call_id)
                return None
            except NatsTimeoutError:
                log.warning("call %s: offer %d timed out", offer.call_id, attempt)
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
