"""The agent's side of a transfer: the command it sends, and what each outcome does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import pytest

from switchboard_agent.realtime.link import RealtimeLink
from switchboard_agent.transfers import NO_NUMBER, Transfers, caller_id_for, told_to_model
from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.event_stream import CallEventPublisher
from switchboard_common.messages import CallOffer, DialStatus, TransferOutcome

pytestmark = pytest.mark.timeout(10)

TO = "+15550999"
BUSINESS = DEMO_BUSINESS.model_copy(update={"transfer_number": TO, "transfer_timeout_s": 7})
OFFER = CallOffer(
    call_id="CA1",
    business_id=BUSINESS.business_id,
    gateway_id="gw",
    from_number="+15557777",
    to_number=BUSINESS.phone_numbers[0],
)


@dataclass
class Recorder:
    """Stands in for the event publisher and the Realtime link."""

    transfers: list[tuple[str, bool, str]] = field(default_factory=list)
    said: list[str] = field(default_factory=list)

    def transfer(self, to_number: str, *, ok: bool, reason: str = "") -> None:
        self.transfers.append((to_number, ok, reason))

    async def add_user_text(self, text: str) -> None:
        self.said.append(text)


def _transfers() -> tuple[Transfers, Recorder]:
    recorder = Recorder()
    return Transfers("CA1", cast(CallEventPublisher, recorder)), recorder


def _outcome(status: DialStatus) -> TransferOutcome:
    return TransferOutcome(call_id="CA1", status=status, to_number=TO)


def test_the_business_chooses_the_caller_id() -> None:
    assert caller_id_for(BUSINESS, OFFER) == "+15557777"
    by_business = BUSINESS.model_copy(update={"transfer_caller_id": "business"})
    assert caller_id_for(by_business, OFFER) == BUSINESS.phone_numbers[0]
    anonymous = OFFER.model_copy(update={"from_number": "anonymous"})
    assert caller_id_for(BUSINESS, anonymous) is None  # Twilio's default then


def test_the_command_carries_the_ring_time_and_the_caller_id() -> None:
    transfers, _ = _transfers()
    command = transfers.command(BUSINESS, OFFER, TO, "wants a person")
    assert (command.to_number, command.timeout_s, command.caller_id) == (TO, 7, "+15557777")
    assert transfers.ringing and transfers.stream_ended()


@pytest.mark.parametrize("status", [DialStatus.NO_ANSWER, DialStatus.BUSY, DialStatus.FAILED])
async def test_a_failed_transfer_is_written_down_and_told_to_the_model(status: DialStatus) -> None:
    transfers, recorder = _transfers()
    transfers.command(BUSINESS, OFFER, TO, "wants a person")
    transfers.stream_ended()
    link = cast(RealtimeLink, recorder)
    assert await transfers.outcome(_outcome(status), link) is False
    assert recorder.transfers == [(TO, False, status.value)]
    assert recorder.said == [told_to_model(_outcome(status))]
    assert TO in recorder.said[0]
    assert not transfers.ringing
    # Had the report overtaken the stream's end, that end still does not end the call.
    assert transfers.stream_ended()
    assert transfers.back() is True  # the caller is owed an answer once, when back
    assert transfers.back() is False


async def test_an_answered_transfer_is_written_once() -> None:
    transfers, recorder = _transfers()
    transfers.command(BUSINESS, OFFER, TO, "wants a person")
    link = cast(RealtimeLink, recorder)
    assert await transfers.outcome(_outcome(DialStatus.ANSWERED), link) is True
    # Twilio reports it again when the dial completes: nothing more happens.
    assert await transfers.outcome(_outcome(DialStatus.COMPLETED), link) is False
    assert recorder.transfers == [(TO, True, "wants a person")]
    assert recorder.said == []


def test_no_number_is_a_failed_transfer() -> None:
    transfers, recorder = _transfers()
    transfers.unavailable()
    assert recorder.transfers == [("", False, NO_NUMBER)]
    assert not transfers.stream_ended()  # nothing was sent: a stream end is the call's end


async def test_a_last_resort_transfer_ends_the_call_whatever_its_outcome() -> None:
    """The model is lost: the transfer goes at once, after the apology, and when nobody takes
    it the call is over for the agent (nothing to tell a model, nobody owed an answer)."""
    transfers, recorder = _transfers()
    command = transfers.command(BUSINESS, OFFER, TO, "realtime_lost", last_resort=True)
    assert command.apology and not command.after_playback
    link = cast(RealtimeLink, recorder)
    assert await transfers.outcome(_outcome(DialStatus.NO_ANSWER), link) is True
    assert recorder.transfers == [(TO, False, "no-answer")]
    assert recorder.said == []
    assert transfers.back() is False
