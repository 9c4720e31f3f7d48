"""Asking for a call's media stream back after its gateway died.

Why: when the gateway holding a call's stream dies, Twilio usually requests the ``<Connect
action>`` URL and the call comes back on a new stream by itself. Twilio does not promise that
callback for every failure, so the agent, which notices first (the caller's audio stops: Twilio
sends audio all the time, silence included), asks any gateway to redirect the live call to a
new stream through Twilio's REST API once the callback has had its chance.
"""

from __future__ import annotations

import logging

from nats.aio.client import Client
from pydantic import ValidationError

from switchboard_common import subjects, tracing
from switchboard_common.messages import ReconnectCall, ReconnectReply

log = logging.getLogger(__name__)

#: Longest wait for a gateway's answer: it makes one call to Twilio's REST API.
RECONNECT_TIMEOUT_S = 3.0


async def ask_for_new_stream(
    nc: Client, call_id: str, agent_id: str, epoch: int, timeout_s: float = RECONNECT_TIMEOUT_S
) -> bool:
    """Ask a gateway to bring the call back on a new stream; True when one did."""
    request = ReconnectCall(call_id=call_id, agent_id=agent_id, epoch=epoch)
    try:
        msg = await nc.request(
            subjects.GATEWAY_RECONNECT,
            request.to_bytes(),
            timeout=timeout_s,
            headers=tracing.inject_headers(),
        )
        reply = ReconnectReply.model_validate_json(msg.data)
    except ValidationError as exc:
        log.warning("call %s: unreadable reconnect reply: %s", call_id, exc)
        return False
    except Exception as exc:  # no gateway can reach Twilio's REST API, or none answered
        log.warning("call %s: no gateway brought the stream back: %r", call_id, exc)
        return False
    if not reply.ok:
        log.warning("call %s: the stream was not brought back: %s", call_id, reply.reason)
    return reply.ok
