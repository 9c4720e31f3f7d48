"""Twilio's voice webhook: who is calling whom, and where to stream the audio."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request, Response

from switchboard_common.ids import TOKEN_PATTERN, TOKEN_RE
from switchboard_common.messages import (
    CallOffer,
    CallRecord,
    CallState,
    EndReason,
    TransferCall,
)

from .. import metrics
from ..calls.dispatch import stream_trace_parameters
from ..calls.reentry import reentry_twiml
from ..twilio import twiml
from .deps import Context

log = logging.getLogger(__name__)
router = APIRouter(tags=["twilio"])

TWIML = "application/xml"
#: Time an agent gets to send its first heartbeat after taking a call.
AGENT_GRACE_S = 5.0


_TEXT = {"text/plain": {"schema": {"type": "string"}}}
#: What the OpenAPI document says of both webhooks: Twilio's form in, TwiML or a refusal out.
#: (The handlers read the form themselves: the signature covers every field Twilio sent.)
WEBHOOK_DOC: dict[str, Any] = {
    "response_class": Response,
    "responses": {
        200: {"description": "TwiML", "content": {TWIML: {"schema": {"type": "string"}}}},
        400: {"description": "Missing or invalid CallSid", "content": _TEXT},
        403: {"description": "Bad X-Twilio-Signature", "content": _TEXT},
    },
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "CallSid": {
                                "type": "string",
                                "pattern": TOKEN_PATTERN,
                                "description": "Twilio's: CA and 32 hex digits",
                            },
                            "AccountSid": {"type": "string"},
                            "From": {"type": "string", "description": "The caller's number"},
                            "To": {"type": "string", "description": "The business's number"},
                        },
                        "required": ["CallSid"],
                        "additionalProperties": {"type": "string"},
                    }
                }
            },
        },
        "parameters": [
            {
                "name": "X-Twilio-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "Twilio's signature of the public URL and the form",
            }
        ],
    },
}


def _twiml(body: str) -> Response:
    return Response(content=body, media_type=TWIML)


@router.post(
    "/twilio/voice",
    summary="Twilio voice webhook",
    description="Answers TwiML that connects the call to our media stream, or refuses politely.",
    **{
        **WEBHOOK_DOC,
        "responses": {
            **WEBHOOK_DOC["responses"],
            503: {"description": "Draining: Twilio tries the fallback URL", "content": _TEXT},
        },
    },
)
async def voice_webhook(request: Request, ctx: Context) -> Response:
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    url = ctx.settings.voice_url + (f"?{request.url.query}" if request.url.query else "")
    if not ctx.signatures.valid(url, params, request.headers.get("X-Twilio-Signature")):
        metrics.REJECTED_SIGNATURES.labels("voice").inc()
        log.warning("voice webhook refused: bad signature")
        return Response("invalid Twilio signature", status_code=403, media_type="text/plain")

    call_sid = params.get("CallSid", "")
    if not TOKEN_RE.fullmatch(call_sid):
        return Response("missing or invalid CallSid", status_code=400, media_type="text/plain")
    business = ctx.directory.by_number(params.get("To", ""))
    if business is None:
        metrics.CALLS_REFUSED.labels("unknown_number").inc()
        log.info("call %s: number %r is not assigned", call_sid, params.get("To"))
        return _twiml(twiml.say_and_hang_up(twiml.UNKNOWN_NUMBER_SAY))
    if not ctx.accepting:
        # Draining: a 503 sends Twilio to the number's fallback URL (another gateway) rather
        # than answering the caller with an apology from a pod that is going away.
        metrics.CALLS_REFUSED.labels("draining").inc()
        return Response("this gateway is draining", status_code=503, headers={"Retry-After": "1"})
    if len(ctx.sessions) >= ctx.settings.max_calls:
        metrics.CALLS_REFUSED.labels("gateway_full").inc()
        return _twiml(twiml.say_and_hang_up(twiml.NO_AGENT_SAY))

    started = time.perf_counter()
    reply = await ctx.dispatcher.offer(
        CallOffer(
            call_id=call_sid,
            business_id=business.business_id,
            gateway_id=ctx.settings.gateway_id,
            from_number=params.get("From", ""),
            to_number=params.get("To", ""),
            account_sid=params.get("AccountSid", ""),
        )
    )
    metrics.DISPATCH_SECONDS.observe(time.perf_counter() - started)
    if reply is None:
        metrics.CALLS_REFUSED.labels("no_agent").inc()
        return _twiml(twiml.say_and_hang_up(twiml.NO_AGENT_SAY))

    ctx.liveness.expect(reply.agent_id, AGENT_GRACE_S)
    await ctx.records.put(
        CallRecord(
            call_id=call_sid,
            business_id=business.business_id,
            state=CallState.OFFERED,
            gateway_id=ctx.settings.gateway_id,
            agent_id=reply.agent_id,
            from_number=params.get("From", ""),
            to_number=params.get("To", ""),
        )
    )
    log.info("call %s: %s answers for %s", call_sid, reply.agent_id, business.business_id)
    return _twiml(
        twiml.connect_stream(
            ctx.settings.media_url,
            {
                "call_id": call_sid,
                "business_id": business.business_id,
                "agent_id": reply.agent_id,
                **stream_trace_parameters(),
            },
            ctx.settings.stream_ended_url,
        )
    )


@router.post(
    "/twilio/stream-ended",
    summary="Twilio <Connect> action: what happens once the media stream has ended",
    description="Hang up after the agent's goodbye, dial a person for a transfer, or apologise "
    "when the agent was lost. When the stream broke under a call whose agent is alive (its "
    "gateway died), a new <Connect><Stream> brings the call back. Answers from the call's "
    "record, wherever the stream ran.",
    **WEBHOOK_DOC,
)
async def stream_ended(request: Request, ctx: Context) -> Response:
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    url = ctx.settings.stream_ended_url + (f"?{request.url.query}" if request.url.query else "")
    if not ctx.signatures.valid(url, params, request.headers.get("X-Twilio-Signature")):
        metrics.REJECTED_SIGNATURES.labels("stream_ended").inc()
        return Response("invalid Twilio signature", status_code=403, media_type="text/plain")
    call_sid = params.get("CallSid", "")
    if not TOKEN_RE.fullmatch(call_sid):
        return Response("missing or invalid CallSid", status_code=400, media_type="text/plain")
    record = await ctx.records.get(call_sid)
    again = reentry_twiml(record, ctx)
    if again is not None:  # the stream broke under a live call: bring it back
        metrics.REENTRIES.labels("action").inc()
        log.warning("call %s: its stream was lost; re-entering on a new stream", call_sid)
        return _twiml(again)
    if record is not None and record.transfer_to:
        log.info("call %s: transferring to %s", call_sid, record.transfer_to)
        return _twiml(
            twiml.dial(
                record.transfer_to,
                timeout_s=record.transfer_timeout_s
                or TransferCall.model_fields["timeout_s"].default,
                action_url=ctx.settings.transfer_ended_url,
                answered_url=ctx.settings.transfer_answered_url,
                caller_id=record.transfer_caller_id,
                say=twiml.MODEL_LOST_TRANSFER_SAY if record.transfer_apology else None,
            )
        )
    if record is not None and record.ended_reason in (
        EndReason.AGENT_HUNG_UP,
        EndReason.CALLER_HUNG_UP,
    ):
        return _twiml(twiml.hang_up())
    return _twiml(twiml.say_and_hang_up(twiml.AGENT_LOST_SAY))
