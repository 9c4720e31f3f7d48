"""Bringing a call back onto a new media stream after the gateway carrying it was lost.

Why: when a gateway process dies, Twilio's websocket to it breaks, but the call, its agent and
its Realtime session are all still alive. Twilio then requests the ``<Connect action>`` URL
(any gateway behind the load balancer answers it), and on failures where it does not, the
agent asks any gateway to redirect the live call through the REST API. Either way the answer
is the same: a fresh ``<Connect><Stream>`` for the same call, bound to the same agent at the
same epoch, so the agent carries on the conversation on the new stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard_common.messages import CallRecord, CallState

from ..twilio import twiml

if TYPE_CHECKING:
    from ..context import GatewayContext

#: The stream parameter that tells the gateway a stream carries on a live call.
RESUME_PARAMETER = "resume"


def reentry_twiml(record: CallRecord | None, ctx: GatewayContext) -> str | None:
    """A new ``<Connect><Stream>`` for a call that lost its stream while its agent lives on;
    None when the call cannot come back this way (it ended, it has no live agent, or this
    gateway is draining)."""
    if record is None or record.state != CallState.STREAMING or record.agent_id is None:
        return None
    if record.call_id in ctx.sessions or not ctx.accepting:
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
