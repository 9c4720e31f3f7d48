"""Taking over a call whose agent was lost: first the lease, then the conversation.

Why: the gateway that judged the old agent lost offers the call again as a resume, at the
next ownership epoch. The agent that accepts must own it alone (the lease is taken by
compare-and-set, so of two racing takers one wins, and a partitioned old owner finds out it
lost) and must know everything the caller lived so far: the call's durable events are read
back before the offer is answered, so the new session can replay them the moment it opens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.aio.client import Client

from switchboard_common import subjects
from switchboard_common.call_lease import CallLeases, Lease, LeaseError
from switchboard_common.event_stream import EventStreamError, read_call
from switchboard_common.events import AnyCallEvent, CallStartedEvent
from switchboard_common.messages import CallOffer

from .call_inbox import CallInbox
from .realtime.link import RealtimeLink
from .realtime.session_config import greeting_instructions
from .resume import Resumption, replay

log = logging.getLogger(__name__)

#: Longest read of a call's events while the gateway waits for the offer's answer.
READ_TIMEOUT_S = 1.5


class TakeoverRefused(RuntimeError):
    """This agent cannot carry the call on (lease lost, events unreadable)."""


@dataclass(frozen=True)
class Takeover:
    """What a resumed session starts from."""

    lease: Lease
    #: The call's stored events, in ``seq`` order.
    events: Sequence[AnyCallEvent]
    #: Who ran the call before (from its last ``call_started`` or ``call_resumed``).
    previous_agent_id: str
    #: The call's subjects at the new epoch, subscribed before the lease was taken.
    inbox: CallInbox | None = None

    def started_monotonic(self) -> float | None:
        """When the call began, on this process's monotonic clock (for its duration)."""
        started = next((e for e in self.events if isinstance(e, CallStartedEvent)), None)
        if started is None:
            return None
        age_s = (datetime.now(UTC) - started.at).total_seconds()
        return time.monotonic() - max(0.0, age_s)


async def take_over(
    nc: Client, offer: CallOffer, agent_id: str, audio_pending_bytes: int
) -> Takeover:
    """Own ``offer``'s call at its epoch and read its conversation back. The call's subjects
    at that epoch are subscribed first (see :mod:`.call_inbox`)."""
    js = nc.jetstream()
    inbox: CallInbox | None = None
    try:
        inbox = await CallInbox.open(nc, offer.call_id, offer.epoch, audio_pending_bytes)
        leases = CallLeases(await js.key_value(subjects.CALLS_BUCKET))
        lease = await leases.take(offer.call_id, agent_id, offer.epoch)
        events = await read_call(js, offer.call_id, timeout_s=READ_TIMEOUT_S)
    except Exception as exc:
        if inbox is not None:
            await inbox.close()
        if isinstance(exc, LeaseError | EventStreamError | TimeoutError):
            raise TakeoverRefused(f"cannot take call {offer.call_id} over: {exc}") from exc
        # The bus itself failed: decline, the gateway offers again.
        raise TakeoverRefused(f"cannot take call {offer.call_id} over: {exc!r}") from exc
    previous = _last_agent(events)
    log.info(
        "call %s: taken over at epoch %d from %s (%d events)",
        offer.call_id,
        offer.epoch,
        previous or "?",
        len(events),
    )
    return Takeover(lease, events, previous, inbox)


def _last_agent(events: Sequence[AnyCallEvent]) -> str:
    for event in reversed(events):
        agent = getattr(event, "agent_id", None)
        if isinstance(agent, str) and agent:
            return agent
    return ""


async def carry_on(link: RealtimeLink, resumed: Resumption, greeting: str) -> None:
    """Give a taken-over call's new session the conversation so far, and answer at once when
    the caller is owed it (their last turn went unanswered, or the lost agent's answer to it
    was cut off by the crash: its ``agent_turn`` was never written). A caller who has not
    spoken yet is owed the greeting the crash cut."""
    await replay(link, resumed.items)
    if resumed.greeting_due:
        await link.respond(greeting_instructions(greeting))
    elif resumed.answer_due:
        await link.respond()
