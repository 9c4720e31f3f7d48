"""Twilio's reports on a transfer: the person picked up, or how the dial ended.

Why: a transfer can fail (nobody answers, the line is busy, the dial fails), and a caller must
not be cut off when it does. The transfer's ``<Dial>`` names two URLs: its ``<Number>`` status
callback (the person answered: the call is theirs, the agent lets go) and its action URL (the
dial is over). The agent hears of each outcome, writes the ``transfer`` event, and, when the
caller is not put through, gets them back on a new stream of the same call with the
conversation it kept. Any gateway answers: both read the call's record.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from switchboard_common import subjects
from switchboard_common.ids import TOKEN_RE
from switchboard_common.messages import CallEnded, DialStatus, EndReason, TransferOutcome

from .. import metrics
from ..calls.reentry import transfer_return_twiml
from ..context import GatewayContext
from ..twilio import twiml
from .deps import Context
from .voice import TWIML, WEBHOOK_DOC

log = logging.getLogger(__name__)
router = APIRouter(tags=["twilio"])


async def _signed_form(request: Request, ctx: GatewayContext, url: str) -> dict[str, str] | None:
    """The form Twilio posted, or None when its signature does not hold."""
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    url += f"?{request.url.query}" if request.url.query else ""
    if not ctx.signatures.valid(url, params, request.headers.get("X-Twilio-Signature")):
        metrics.REJECTED_SIGNATURES.labels("transfer").inc()
        return None
    return params


def _refused(status: int, text: str) -> Response:
    return Response(text, status_code=status, media_type="text/plain")


async def _tell_agent(ctx: GatewayContext, call_id: str, status: DialStatus, to: str) -> None:
    metrics.TRANSFER_OUTCOMES.labels(status.value).inc()
    outcome = TransferOutcome(call_id=call_id, status=status, to_number=to)
    try:
        await ctx.nc.publish(subjects.agent_control(call_id), outcome.to_bytes())
    except Exception as exc:  # the agent then ends the call when its wait runs out
        log.warning("call %s: could not tell the agent the transfer %s: %s", call_id, status, exc)


async def _call_over(ctx: GatewayContext, call_id: str) -> None:
    ended = CallEnded(call_id=call_id, reason=EndReason.CALLER_HUNG_UP)
    try:
        await ctx.nc.publish(subjects.agent_control(call_id), ended.to_bytes())
    except Exception as exc:  # the agent's media watch ends the call later
        log.warning("call %s: could not tell the agent the caller left: %s", call_id, exc)


@router.post(
    "/twilio/transfer-ended",
    summary="Twilio <Dial> action: how a transfer's dial ended",
    description="Answered or completed: the call ends. No answer, busy, failed or canceled: "
    "the caller comes back to the agent that transferred them, on a new <Connect><Stream> "
    "(or hears an apology when that agent is gone); when the caller hung up meanwhile "
    "(CallStatus completed), the agent is told the call is over.",
    **WEBHOOK_DOC,
)
async def transfer_ended(request: Request, ctx: Context) -> Response:
    params = await _signed_form(request, ctx, ctx.settings.transfer_ended_url)
    if params is None:
        return _refused(403, "invalid Twilio signature")
    call_sid = params.get("CallSid", "")
    if not TOKEN_RE.fullmatch(call_sid):
        return _refused(400, "missing or invalid CallSid")
    try:
        status = DialStatus(params.get("DialCallStatus", ""))
    except ValueError:
        status = DialStatus.FAILED  # an outcome we do not know: the caller was not put through
    record = await ctx.records.get(call_sid)
    to = record.transfer_to or "" if record is not None else ""
    await _tell_agent(ctx, call_sid, status, to)
    if status.connected:
        return Response(content=twiml.hang_up(), media_type=TWIML)
    if params.get("CallStatus") == "completed":
        # The caller hung up while the number rang: there is nobody to bring back.
        await _call_over(ctx, call_sid)
        return Response(content=twiml.hang_up(), media_type=TWIML)
    back = transfer_return_twiml(record, ctx)
    if back is None:
        log.warning("call %s: transfer %s and no agent to come back to", call_sid, status.value)
        return Response(content=twiml.say_and_hang_up(twiml.TRANSFER_FAILED_SAY), media_type=TWIML)
    log.info("call %s: transfer %s; back to the agent", call_sid, status.value)
    metrics.REENTRIES.labels("transfer").inc()
    return Response(content=back, media_type=TWIML)


@router.post(
    "/twilio/transfer-answered",
    summary="Twilio <Number> status callback: the person a call was transferred to answered",
    description="The call is theirs now: its agent writes the transfer down and lets go.",
    status_code=204,
    responses={403: {"description": "Bad X-Twilio-Signature"}},
)
async def transfer_answered(request: Request, ctx: Context) -> Response:
    params = await _signed_form(request, ctx, ctx.settings.transfer_answered_url)
    if params is None:
        return _refused(403, "invalid Twilio signature")
    parent = params.get("ParentCallSid", "")
    if TOKEN_RE.fullmatch(parent) and params.get("CallStatus") == "in-progress":
        await _tell_agent(ctx, parent, DialStatus.ANSWERED, params.get("To", ""))
    return Response(status_code=204)
