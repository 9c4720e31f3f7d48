"""A new call is offered by name to an agent heard beating, so an agent that hangs while still
subscribed (it stays in the pool's queue group until the server gives up on it) is not offered
calls. Real nats-server; the agents are plain subscribers answering as agents do."""

from __future__ import annotations

from collections.abc import Collection

from nats.aio.client import Client
from nats.aio.msg import Msg

from switchboard_common import subjects
from switchboard_common.messages import CallOffer, CallOfferReply
from switchboard_gateway.calls.dispatch import Dispatcher, Takers

TIMEOUT_S = 0.2


class Agents:
    """Stand-ins for agent processes: each in the pool's queue group and on its own subject."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        #: Offers each agent received, by agent.
        self.offers: dict[str, int] = {}

    async def add(self, agent_id: str, answer: str) -> None:
        """``answer``: "accept", "decline" (full) or "hang" (never answers)."""
        self.offers[agent_id] = 0

        async def on_offer(msg: Msg) -> None:
            self.offers[agent_id] += 1
            if answer == "hang":
                return
            offer = CallOffer.model_validate_json(msg.data)
            reply = CallOfferReply(
                call_id=offer.call_id,
                accepted=answer == "accept",
                agent_id=agent_id,
                reason="" if answer == "accept" else "at capacity",
            )
            await msg.respond(reply.to_bytes())

        await self._nc.subscribe(
            subjects.AGENT_DISPATCH, queue=subjects.AGENT_QUEUE_GROUP, cb=on_offer
        )
        await self._nc.subscribe(subjects.agent_offer(agent_id), cb=on_offer)


def _offer(n: int) -> CallOffer:
    return CallOffer(call_id=f"CA{n:032d}", business_id="bellas-bistro", gateway_id="gw-1")


def _knowing(*alive: str) -> Takers:
    def takers(exclude: Collection[str]) -> list[str]:
        return [a for a in alive if a not in exclude]

    return takers


async def test_a_hung_agent_judged_lost_is_never_offered_a_new_call(bus: Client) -> None:
    agents = Agents(bus)
    await agents.add("hung", "hang")
    await agents.add("free", "accept")
    await bus.flush()
    dispatcher = Dispatcher(bus, TIMEOUT_S, attempts=3, takers=_knowing("free"))
    replies = [await dispatcher.offer(_offer(n)) for n in range(10)]
    assert [r.agent_id if r else None for r in replies] == ["free"] * 10
    assert agents.offers == {"hung": 0, "free": 10}


async def test_through_the_pool_a_hung_agent_costs_tries_and_can_refuse_a_call(
    bus: Client,
) -> None:
    """What the by-name offers avoid: the pool's queue group still holds the hung agent."""
    agents = Agents(bus)
    await agents.add("hung", "hang")
    await agents.add("free", "accept")
    await bus.flush()
    dispatcher = Dispatcher(bus, TIMEOUT_S, attempts=1)  # no agent heard: the pool
    replies = [await dispatcher.offer(_offer(n)) for n in range(12)]
    assert agents.offers["hung"] > 0  # 1 in 2 on average; 12 all missing it: 1 in 4096
    assert replies.count(None) == agents.offers["hung"]


async def test_quick_declines_and_departed_agents_do_not_use_up_the_tries(bus: Client) -> None:
    agents = Agents(bus)
    for full in ("full-1", "full-2", "full-3"):
        await agents.add(full, "decline")
    await agents.add("free", "accept")
    await bus.flush()
    takers = _knowing("full-1", "gone", "full-2", "full-3", "free")  # "gone": no subscriber
    dispatcher = Dispatcher(bus, TIMEOUT_S, attempts=1, takers=takers)
    reply = await dispatcher.offer(_offer(1))
    assert reply is not None and reply.agent_id == "free"
    assert agents.offers == {"full-1": 1, "full-2": 1, "full-3": 1, "free": 1}


async def test_a_timed_out_named_agent_is_not_asked_again(bus: Client) -> None:
    agents = Agents(bus)
    await agents.add("slow", "hang")  # not yet judged lost: still among the takers
    await agents.add("free", "accept")
    await bus.flush()
    dispatcher = Dispatcher(bus, TIMEOUT_S, attempts=3, takers=_knowing("slow", "free"))
    reply = await dispatcher.offer(_offer(1))
    assert reply is not None and reply.agent_id == "free"
    assert agents.offers == {"slow": 1, "free": 1}
