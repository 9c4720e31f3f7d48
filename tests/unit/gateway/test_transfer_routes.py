"""Twilio's reports on a transfer: what the gateway tells the agent and answers Twilio.

The routes run in a bare FastAPI app over a stand-in context (records, liveness, the bus)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from switchboard_common import subjects
from switchboard_common.messages import (
    CallEnded,
    CallRecord,
    CallState,
    DialStatus,
    EndReason,
    TransferOutcome,
    agent_control_adapter,
)
from switchboard_gateway.routes import transfer
from switchboard_gateway.settings import GatewaySettings

pytestmark = pytest.mark.timeout(10)

CALL = "CA" + "1" * 32
TO = "+15550999"
RECORD = CallRecord(
    call_id=CALL,
    business_id="bellas-bistro",
    state=CallState.ENDED,
    gateway_id="gw-1",
    agent_id="agent-1",
    epoch=2,
    ended_reason=EndReason.TRANSFERRED,
    transfer_to=TO,
)


@dataclass
class Stand:
    """The context's parts the routes use: what was published, whether signatures hold."""

    record: CallRecord | None = RECORD
    agent_alive: bool = True
    signed: bool = True
    published: list[tuple[str, Any]] = field(default_factory=list)

    async def publish(self, subject: str, data: bytes) -> None:
        self.published.append((subject, agent_control_adapter.validate_json(data)))

    async def get(self, call_id: str) -> CallRecord | None:
        return self.record if self.record and self.record.call_id == call_id else None

    def alive(self, agent_id: str) -> bool:
        return self.agent_alive

    def valid(self, url: str, params: Any, signature: str | None) -> bool:
        return self.signed


@pytest.fixture
def stand() -> Stand:
    return Stand()


@pytest.fixture
async def twilio(stand: Stand) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(transfer.router)
    app.state.ctx = SimpleNamespace(
        settings=GatewaySettings(),
        signatures=stand,
        records=stand,
        liveness=stand,
        nc=stand,
        sessions={},
        accepting=True,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client


def _ended(status: str, call_status: str = "in-progress") -> dict[str, str]:
    return {"CallSid": CALL, "DialCallStatus": status, "CallStatus": call_status}


HEADERS = {"X-Twilio-Signature": "stand-in"}


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed", "canceled"])
async def test_nobody_took_it_the_caller_comes_back_to_the_same_agent(
    twilio: httpx.AsyncClient, stand: Stand, status: str
) -> None:
    response = await twilio.post("/twilio/transfer-ended", data=_ended(status), headers=HEADERS)
    assert response.status_code == 200
    body = response.text
    assert "<Connect" in body and "<Stream" in body
    for name, value in [("call_id", CALL), ("agent_id", "agent-1"), ("epoch", "2")]:
        assert f'name="{name}" value="{value}"' in body
    assert stand.published == [
        (
            subjects.agent_control(CALL),
            TransferOutcome(call_id=CALL, status=DialStatus(status), to_number=TO),
        )
    ]


async def test_with_the_agent_gone_the_caller_hears_an_apology(
    twilio: httpx.AsyncClient, stand: Stand
) -> None:
    stand.agent_alive = False
    response = await twilio.post("/twilio/transfer-ended", data=_ended("busy"), headers=HEADERS)
    assert "<Say>" in response.text and "<Hangup" in response.text
    assert "<Connect" not in response.text


async def test_a_last_resort_transfer_nobody_took_ends_with_an_apology(
    twilio: httpx.AsyncClient, stand: Stand
) -> None:
    """The agent transferred because its model was lost: it cannot take the caller back."""
    stand.record = RECORD.model_copy(update={"transfer_apology": True})
    response = await twilio.post(
        "/twilio/transfer-ended", data=_ended("no-answer"), headers=HEADERS
    )
    assert "<Say>" in response.text and "<Hangup" in response.text
    assert "<Connect" not in response.text
    assert [type(message) for _, message in stand.published] == [TransferOutcome]


async def test_a_completed_dial_ends_the_call(twilio: httpx.AsyncClient, stand: Stand) -> None:
    response = await twilio.post(
        "/twilio/transfer-ended", data=_ended("completed", "completed"), headers=HEADERS
    )
    assert "<Hangup" in response.text and "<Connect" not in response.text
    ((_, outcome),) = stand.published
    assert outcome.status is DialStatus.COMPLETED and outcome.status.connected


async def test_a_caller_who_hung_up_while_it_rang_is_not_brought_back(
    twilio: httpx.AsyncClient, stand: Stand
) -> None:
    response = await twilio.post(
        "/twilio/transfer-ended", data=_ended("no-answer", "completed"), headers=HEADERS
    )
    assert "<Hangup" in response.text and "<Connect" not in response.text
    assert [m for _, m in stand.published][-1] == CallEnded(
        call_id=CALL, reason=EndReason.CALLER_HUNG_UP
    )


async def test_the_person_answering_is_told_at_once(
    twilio: httpx.AsyncClient, stand: Stand
) -> None:
    child = "CA" + "2" * 32
    form = {"CallSid": child, "ParentCallSid": CALL, "CallStatus": "in-progress", "To": TO}
    response = await twilio.post("/twilio/transfer-answered", data=form, headers=HEADERS)
    assert response.status_code == 204
    assert stand.published == [
        (
            subjects.agent_control(CALL),
            TransferOutcome(call_id=CALL, status=DialStatus.ANSWERED, to_number=TO),
        )
    ]


async def test_unsigned_reports_are_refused(twilio: httpx.AsyncClient, stand: Stand) -> None:
    stand.signed = False
    for path in ("/twilio/transfer-ended", "/twilio/transfer-answered"):
        response = await twilio.post(path, data=_ended("busy"), headers=HEADERS)
        assert response.status_code == 403
    assert stand.published == []
