"""Twilio Media Streams websocket."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket

from .. import metrics
from ..stream import MediaStreamSession
from .deps import Context

log = logging.getLogger(__name__)
router = APIRouter()

#: RFC 6455 "policy violation": sent (as an HTTP 403 before accept) for a bad signature.
POLICY_VIOLATION = 1008


@router.websocket("/twilio/media")
async def media_stream(ws: WebSocket, ctx: Context) -> None:
    """Twilio signs the upgrade over the exact wss:// URL of our TwiML, with no parameters."""
    signature = ws.headers.get("x-twilio-signature")
    if not ctx.signatures.valid(ctx.settings.media_url, {}, signature):
        metrics.REJECTED_SIGNATURES.labels("media").inc()
        log.warning("media stream refused: bad signature")
        await ws.close(code=POLICY_VIOLATION)
        return
    # Taken even while draining: the stream belongs to a call some gateway already answered,
    # and refusing it would drop that call; the drain deadline still bounds it.
    await ws.accept()
    await MediaStreamSession(ws, ctx).run()
