"""Bringing a call back onto a new media stream after the gateway carrying it was lost.

Why: when a gateway process dies, Twilio's websocket to it breaks, but the call, its agent and
its Realtime session are all still alive. Twilio then requests the ``<Connect action>`` URL
(any gateway behind the load balancer answers it), and on failures where it does not, the
agent asks any gateway to redirect the live call through the REST API. Either way the answer
is the same: a fresh ``<Connect><Stream>`` for the same call, bound to the same agent at the
same epoch, so the agent carries on the conversation on the new stream.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from switchboard_common.messages import (
    CallRecord,
    CallState,
    EndReason,
    ReconnectCall,
    ReconnectReply,
)

from .. import metrics
from ..twilio import twiml
from ..twilio.rest import CallControlError

if TYPE_CHECKING:
    from ..context import GatewayContext

log = logging.getLogger(__name__)

#: The stream parameter that tells the gateway a stream carries on a live call.
RESUME_PARAMETER = "resume"


def reentry_twiml(record: CallRecord | None, ctx: GatewayContext) -> str | None:
    """A new ``<Connect><Stream>`` for a call that lost its stream while its agent lives on;
    None when the call cannot come back this way (it ended, it has no live agent, or this
    gateway is draining)."""
    if record is None or record.state != CallState.STREAMING:
        return None
    return _stream_again(record, ctx)


def transfer_return_twiml(record: CallRecord | None, ctx: GatewayContext) -> str | None:
    """A new ``<Connect><Stream>`` for a call whose transfer nobody took: the caller comes
    back to the agent that transferred them, which kept the conversation; None when it
    cannot (the call did not leave for a transfer, its agent is gone, or the transfer was
    the agent's last resort: its model was lost)."""
    if record is None or record.ended_reason != EndReason.TRANSFERRED or record.transfer_apology:
        return None
    return _stream_again(record, ctx)


def _stream_again(record: CallRecord, ctx: GatewayContext) -> str | None:
    """The call's stream again, bound to the same agent at the same epoch."""
    if record.agent_id is None or record.call_id in ctx.sessions or not ctx.accepting:
        return None
    if not ctx.liveness.alive(record.agent_id):
        return None
    return twiml.connect_stream(
        ctx.settings.media_url,
        {
            "call_id": record.call_id,
            "business_id": record.business_id,
            "agent_id": record.agent_id,
            "epoch": str(record.epoch),
            RESUME_PARAMETER: "1",
        },
        ctx.settings.stream_ended_url,
    )


async def reconnect(request: ReconnectCall, ctx: GatewayContext) -> ReconnectReply:
    """An agent's call lost its stream and Twilio did not call back: redirect the live call
    to a new stream through the REST API (Twilio ends nothing: the old stream is gone)."""

    def refuse(reason: str) -> ReconnectReply:
        log.warning("call %s: cannot bring it back: %s", request.call_id, reason)
        return ReconnectReply(call_id=request.call_id, ok=False, reason=reason)

    if ctx.call_control is None:
        return refuse("this gateway has no Twilio REST credentials")
    record = await ctx.records.get(request.call_id)
    if record is None or (record.agent_id, record.epoch) != (request.agent_id, request.epoch):
        return refuse("the call's record names another owner")
    document = reentry_twiml(record, ctx)
    if document is None:
        return refuse("the call is not streaming, or its agent is not alive")
    try:
        await ctx.call_control.redirect(request.call_id, document)
    except CallControlError as exc:
        return refuse(str(exc))
    metrics.REENTRIES.labels("rest").inc()
    log.warning("call %s: redirected to a new stream through the REST API", request.call_id)
    return ReconnectReply(call_id=request.call_id, ok=True)
