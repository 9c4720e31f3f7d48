"""A transfer to a person, from the agent's side: sent, ringing, and how it ended.

Why: Twilio may fail to put the caller through (nobody answers, the line is busy, the dial
fails). The agent keeps the call, its Realtime session and its conversation while the number
rings; the gateway reports the outcome (:class:`TransferOutcome`). Answered, the call is the
person's and the agent lets go. Otherwise the caller comes back on a new stream of the same
call: the model is told what happened and answers them. The ``transfer`` event is written
once the outcome is known, ``ok=false`` with the reason when it failed or could not be tried.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

from switchboard_common.business import BusinessProfile
from switchboard_common.event_stream import CallEventPublisher
from switchboard_common.messages import CallOffer, DialStatus, TransferCall, TransferOutcome

from .realtime.link import RealtimeLink

log = logging.getLogger(__name__)

#: How much longer than the ring time the agent waits for Twilio's word on the outcome.
OUTCOME_GRACE_S = 15.0
NO_NUMBER = "no transfer number configured"
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")

#: What the model is told, by how the dial ended (``{to}``: the number).
TOLD = {
    DialStatus.NO_ANSWER: "[The transfer to {to} was not answered.]",
    DialStatus.BUSY: "[The transfer to {to} failed: the line was busy.]",
    DialStatus.FAILED: "[The transfer to {to} could not be made.]",
    DialStatus.CANCELED: "[The transfer to {to} was cancelled before anyone answered.]",
}
TOLD_NEXT = " The caller is back on the line with you: tell them, and offer to take a message."


def caller_id_for(business: BusinessProfile, offer: CallOffer) -> str | None:
    """The number the person sees calling, as the business chose: the caller's own or the
    business number they called (None when unknown: Twilio then shows the caller's)."""
    number = offer.from_number if business.transfer_caller_id == "caller" else offer.to_number
    return number if _E164.fullmatch(number) else None


def told_to_model(outcome: TransferOutcome) -> str:
    words = TOLD.get(outcome.status, TOLD[DialStatus.FAILED])
    return words.format(to=outcome.to_number or "the number") + TOLD_NEXT


class Transfers:
    def __init__(self, call_id: str, events: CallEventPublisher) -> None:
        self._call_id = call_id
        self._events = events
        #: The transfer sent to the gateway, until its outcome is known.
        self._pending: TransferCall | None = None
        #: A transfer failed: the caller is owed an answer once their stream is back.
        self._owed = False
        self._settled = asyncio.Event()

    @property
    def ringing(self) -> bool:
        """A transfer was sent and its outcome is not known yet."""
        return self._pending is not None

    def command(
        self,
        business: BusinessProfile,
        offer: CallOffer,
        to_number: str,
        reason: str,
        *,
        last_resort: bool = False,
    ) -> TransferCall:
        """The gateway command for a transfer (kept: its outcome is awaited). A
        ``last_resort`` (the model is lost) is sent at once, after the apology, and the
        caller does not come back to the agent if nobody answers."""
        self._pending = TransferCall(
            call_id=self._call_id,
            to_number=to_number,
            reason=reason,
            caller_id=caller_id_for(business, offer),
            timeout_s=business.transfer_timeout_s,
            after_playback=not last_resort,
            apology=last_resort,
        )
        self._settled.clear()
        return self._pending

    def unavailable(self) -> None:
        """The model asked for a transfer the business cannot take (no number)."""
        self._events.transfer("", ok=False, reason=NO_NUMBER)

    def stream_ended(self) -> bool:
        """The gateway ended the stream for the transfer: True when the call goes on (the
        outcome is awaited, or a failed one is bringing the caller back, should its report
        have overtaken the stream's end), False when no transfer was sent."""
        return self._pending is not None or self._owed

    async def outcome(self, outcome: TransferOutcome, link: RealtimeLink | None) -> bool:
        """Twilio's word on the transfer: True when the call is over for the agent (the
        caller was put through, or the transfer was its last resort: the gateway ends the
        call). Otherwise the model is told, and the caller is owed an answer once back (see
        :meth:`back`)."""
        pending = self._pending
        if pending is None:
            return False  # already settled (Twilio reports an answered dial twice)
        self._pending = None
        self._settled.set()
        if outcome.status.connected:
            self._events.transfer(pending.to_number, ok=True, reason=pending.reason)
            log.info("call %s: transferred to %s", self._call_id, pending.to_number)
            return True
        self._events.transfer(pending.to_number, ok=False, reason=outcome.status.value)
        log.warning("call %s: transfer %s", self._call_id, outcome.status.value)
        if pending.apology:
            return True  # nobody to come back to: the gateway apologises and hangs up
        self._owed = True
        if link is not None:
            told = outcome.model_copy(update={"to_number": pending.to_number})
            await link.add_user_text(told_to_model(told))
        return False

    def back(self) -> bool:
        """The caller's stream is back: True (once) when it is after a failed transfer, and
        the model should answer them now."""
        owed, self._owed = self._owed, False
        return owed

    async def wait_outcome(self, given_up: Callable[[], None]) -> None:
        """Bounded: no word from Twilio within the ring time and a grace means the outcome
        cannot be known; the transfer is written down as failed and ``given_up`` ends the
        call for the agent."""
        pending = self._pending
        if pending is None:
            return
        try:
            async with asyncio.timeout(pending.timeout_s + OUTCOME_GRACE_S):
                await self._settled.wait()
        except TimeoutError:
            self._pending = None
            reason = f"no outcome reported within {pending.timeout_s + OUTCOME_GRACE_S:g} s"
            self._events.transfer(pending.to_number, ok=False, reason=reason)
            log.warning("call %s: transfer to %s: %s", self._call_id, pending.to_number, reason)
            given_up()
