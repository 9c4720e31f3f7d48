"""Giving a call up (its model is lost for good): the caller hears the apology, then the call
is hung up or, when the business chose so and has a number, transferred; the transfer's
outcome is awaited so that its event comes before the call's end."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from nats.aio.client import Client

from switchboard_agent.call_exit import CallExit
from switchboard_agent.call_phase import CallPhase
from switchboard_agent.transfers import Transfers
from switchboard_common.business import DEMO_BUSINESS, BusinessProfile
from switchboard_common.event_stream import CallEventPublisher
from switchboard_common.messages import (
    CallOffer,
    DialStatus,
    HangUp,
    TransferCall,
    TransferOutcome,
    gateway_control_adapter,
)

pytestmark = pytest.mark.timeout(10)

TO = "+15550999"
OFFER = CallOffer(call_id="CA1", business_id=DEMO_BUSINESS.business_id, gateway_id="gw")


@dataclass
class Call:
    """The session (ExitHost), the bus and the event publisher, recording what they get."""

    business: BusinessProfile
    end_reason: str = "realtime_lost"
    sent: list[HangUp | TransferCall] = field(default_factory=list)
    transfers: list[tuple[str, bool, str]] = field(default_factory=list)
    one_sent: asyncio.Event = field(default_factory=asyncio.Event)

    async def publish(self, subject: str, data: bytes, headers: Any = None) -> None:
        command = gateway_control_adapter.validate_json(data)
        assert isinstance(command, HangUp | TransferCall)
        self.sent.append(command)
        self.one_sent.set()

    def transfer(self, to_number: str, *, ok: bool, reason: str = "") -> None:
        self.transfers.append((to_number, ok, reason))

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        raise AssertionError("nothing runs alongside a call given up")


def _exit(business: BusinessProfile, live: bool = True) -> tuple[CallExit, Call, Transfers]:
    call = Call(business)
    phase = CallPhase()
    if live:
        phase.begin()
    transfers = Transfers("CA1", cast(CallEventPublisher, call))
    exit_ = CallExit(OFFER, cast(Client, call), "gw.subject", call, phase, transfers)
    return exit_, call, transfers


@pytest.mark.parametrize(
    "business",
    [
        DEMO_BUSINESS.model_copy(update={"transfer_number": TO}),  # the default: hang up
        DEMO_BUSINESS.model_copy(update={"when_model_lost": "transfer"}),  # no number
    ],
    ids=["hang_up", "transfer_without_a_number"],
)
async def test_the_call_is_hung_up_with_the_apology(business: BusinessProfile) -> None:
    exit_, call, _ = _exit(business)
    await exit_.give_up("realtime_lost", start_timeout_s=1.0)
    (command,) = call.sent
    assert isinstance(command, HangUp) and command.apology and not command.after_playback
    assert call.transfers == []


async def test_the_call_is_transferred_when_the_business_chose_so() -> None:
    business = DEMO_BUSINESS.model_copy(
        update={"transfer_number": TO, "when_model_lost": "transfer", "transfer_timeout_s": 5}
    )
    exit_, call, transfers = _exit(business)
    giving_up = asyncio.create_task(exit_.give_up("realtime_lost", start_timeout_s=1.0))
    await asyncio.wait_for(call.one_sent.wait(), 1.0)
    (command,) = call.sent
    assert isinstance(command, TransferCall)
    assert (command.to_number, command.apology, command.after_playback) == (TO, True, False)
    assert not giving_up.done(), "the outcome is awaited before the call ends"

    outcome = TransferOutcome(call_id="CA1", status=DialStatus.COMPLETED, to_number=TO)
    assert await transfers.outcome(outcome, None) is True
    await asyncio.wait_for(giving_up, 1.0)
    assert call.transfers == [(TO, True, "realtime_lost")]
    assert call.end_reason == "realtime_lost"
    exit_.request_exit("hang_up", "later")  # nothing else leaves the call now
    await exit_.leave()
    assert len(call.sent) == 1


async def test_a_call_that_never_started_is_left_alone() -> None:
    exit_, call, _ = _exit(DEMO_BUSINESS, live=False)
    await exit_.give_up("realtime_lost", start_timeout_s=0.01)
    assert call.sent == []
