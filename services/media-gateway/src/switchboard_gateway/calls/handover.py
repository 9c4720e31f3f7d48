"""Moving a live call to another agent when its own was lost.

Why: an agent process can die (kill -9, the OOM killer, a lost node) while the caller is on the
line. The gateway holding the call's stream is the one that notices (the agent's heartbeats
stop while the gateway itself still hears the bus), so it moves the call: it revokes the lost
agent's lease (the epoch goes up, by compare-and-set), offers the call to the pool again as a
resume at the new epoch, and binds the stream to whichever agent takes it. The new agent
rebuilds the conversation from the call's events (see the agent's ``takeover`` module). Only
when no agent can take it does the caller hear the apology.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from switchboard_common.call_lease import Lease, LeaseError
from switchboard_common.messages import CallOffer

from .. import metrics

if TYPE_CHECKING:
    from ..context import GatewayContext
    from ..stream import MediaStreamSession

log = logging.getLogger(__name__)

#: How long a new owner has to send its first heartbeat before it is judged in turn.
NEW_OWNER_GRACE_S = 5.0
#: A resume offer's tries to the pool, after those by name (see :func:`_offer_until_taken`).
RESUME_OFFER_TIMEOUT_S = 0.4
RESUME_OFFER_ATTEMPTS = 10


async def move_call(session: MediaStreamSession, ctx: GatewayContext) -> bool:
    """Move ``session``'s call off its lost agent; False when it could not be moved (the
    caller then gets the apology, as before)."""
    lost = session.agent_id
    started = time.perf_counter()
    try:
        record = await ctx.records.leases.read(session.call_id)
        epoch = await ctx.records.leases.revoke(Lease(session.call_id, lost, session.epoch))
    except LeaseError as exc:
        log.warning("call %s: cannot move it off %s: %s", session.call_id, lost, exc)
        return False
    except Exception as exc:  # the bus failed under us: nothing can be moved now
        log.warning("call %s: cannot move it off %s: %r", session.call_id, lost, exc)
        return False
    offer = CallOffer(
        call_id=session.call_id,
        business_id=session.business_id,
        gateway_id=ctx.settings.gateway_id,
        from_number=record.record.from_number if record else "",
        to_number=record.record.to_number if record else "",
        resume=True,
        epoch=epoch,
    )
    taker = await _offer_until_taken(ctx, offer, lost)
    if taker is None:
        metrics.CALLS_MOVED.labels("no_agent").inc()
        log.warning("call %s: no agent could take it over from %s", session.call_id, lost)
        return False
    ctx.liveness.expect(taker, NEW_OWNER_GRACE_S)
    await session.rebind(taker, epoch)
    metrics.CALLS_MOVED.labels("moved").inc()
    log.warning(
        "call %s: moved from lost agent %s to %s at epoch %d in %.0f ms",
        session.call_id,
        lost,
        taker,
        epoch,
        (time.perf_counter() - started) * 1000,
    )
    return True


async def _offer_until_taken(ctx: GatewayContext, offer: CallOffer, lost: str) -> str | None:
    """Offer the resume until an agent takes it, first by name to each agent heard beating
    with room (never to ``lost``), then to the pool. Why by name: a hung agent is still in
    the pool's queue group, and a try that lands on it costs its whole timeout in the caller's
    silence (with two agents, half the tries did). The pool is the fallback for agents not
    heard yet. A caller is waiting, so each try is short; a live agent answers in
    milliseconds, but under load its answer can come after the try gave up: the record,
    changed only by compare-and-set, then says it took the call."""
    named: list[str | None] = list(ctx.liveness.takers({lost}))
    for agent_id in named + [None] * RESUME_OFFER_ATTEMPTS:
        reply = await ctx.dispatcher.reoffer(offer, RESUME_OFFER_TIMEOUT_S, agent_id)
        if reply is not None:
            return reply.agent_id
        taker = await _owner_at(ctx, offer.call_id, offer.epoch)
        if taker is not None:
            return taker
    return None


async def _owner_at(ctx: GatewayContext, call_id: str, epoch: int) -> str | None:
    try:
        current = await ctx.records.leases.read(call_id)
    except Exception:
        return None
    if current is None or current.record.epoch != epoch:
        return None
    return current.record.agent_id
