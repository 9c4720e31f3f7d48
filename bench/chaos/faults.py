"""The faults ``make chaos`` injects, each on one process (or one link) of a live stack, and
the stack each needs: two agents where a call could move, two gateways where a gateway dies,
a three-node NATS cluster where a node dies.

An injector returns when the fault is over (a hang lifted, an outage ended, the calls moved
or a bound passed) and says which calls it hit: those whose path went through the faulted
process, or ``None`` when only the calls' events can tell (a hung tool backend hits the calls
that asked it something meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from switchboard_common.messages import CallRecord, CallState
from switchboard_sim.call import CallSimulator
from switchboard_sim.demo import seed_knowledge
from switchboard_sim.stack import HARNESS_USER, Child, LocalStack

from .calls import REALTIME_SCRIPT, SAMPLES
from .probes import POLL_S, Probe

#: Replicated buckets and events, as production runs the cluster.
REPLICATED = {"JETSTREAM_REPLICAS": "3", "EVENTS_REPLICAS": "3"}
#: A single server is away this long (issue 11: "restart a single-node server for up to 5 s").
OUTAGE_S = 5.0
#: A pause just past the gateway's missed-beat window (3 beats of 0.25 s).
PAUSE_S = 1.0
#: How long a fault on an agent may take to move its calls before the harness lifts it.
MOVE_BOUND_S = 10.0
#: How long the knowledge service stays hung at most (until every call has asked it).
HANG_BOUND_S = 40.0


@dataclass
class Rig:
    """A started stack and its services."""

    stack: LocalStack
    agents: list[Child]
    gateways: list[Child]
    knowledge: Child
    #: The harness's bus URL (in a cluster: a node no fault touches first).
    harness_url: str


@dataclass
class Scene:
    """The moment of the fault: the rig, the probe, and the calls in flight (call id → the
    gateway it was placed on)."""

    rig: Rig
    probe: Probe
    calls: dict[str, str]
    #: The callers, whose Twilio reaches the gateways through one load balancer.
    callers: list[CallSimulator] = field(default_factory=list)

    async def owners(self) -> dict[str, str]:
        """Call id → the agent that owns it now."""
        owners: dict[str, str] = {}
        for call_id in self.calls:
            record = await self.probe.record(call_id)
            owners[call_id] = (record.agent_id or "") if record else ""
        return owners

    async def moved(self, calls: set[str], off: str) -> float:
        """When every call in ``calls`` has a new owner (not ``off``, and not just revoked
        with no owner yet) or has ended (polled, at most :data:`MOVE_BOUND_S`)."""
        deadline = time.monotonic() + MOVE_BOUND_S
        while time.monotonic() < deadline:
            records = [await self.probe.record(c) for c in calls]
            if all(r is None or _settled(r, off) for r in records):
                break
            await asyncio.sleep(POLL_S)
        return time.monotonic()


def _settled(record: CallRecord, off: str) -> bool:
    return record.state == CallState.ENDED or record.agent_id not in (None, off)


@dataclass(frozen=True)
class Hit:
    started: float
    over: float
    calls: set[str] | None


Injector = Callable[[Scene], Awaitable[Hit]]


@dataclass(frozen=True)
class Fault:
    name: str
    label: str
    inject: Injector
    #: Issue 11 says a call survives it today; the integration test asserts these.
    survivable: bool = True
    agents: int = 1
    gateways: int = 1
    cluster: bool = False
    #: The fault can stop the agent's voice mid-reply (a hung tool backend cannot).
    cuts_audio: bool = True
    #: Inject once every call is a second into the agent's greeting (every answer is cut
    #: mid-stream); else as soon as every call streams.
    mid_greeting: bool = True


async def build(stack: LocalStack, fault: Fault) -> Rig:
    """Start what ``fault`` needs: the bus, the Realtime simulator, Twilio's REST stand-in,
    the knowledge service (seeded), the agents and the gateways."""
    if fault.cluster:
        await stack.start_nats_cluster(3)
        path_env = {**stack.nats_pinned_env(stack.nats_nodes[0]), **REPLICATED}
        knowledge_env = REPLICATED
        harness_url = stack.nats_url_for(HARNESS_USER, first=stack.nats_nodes[1])
    else:
        await stack.start_nats()
        path_env, knowledge_env, harness_url = {}, {}, stack.nats_url
    # The model streams at the pace the caller hears it, so a fault at any moment of the
    # agent's speech cuts audio still to come (the simulator's default, 4x, has whole answers
    # already on their way to the caller when they are a quarter through).
    await stack.start_realtime_sim(script=REALTIME_SCRIPT, extra=["--speed", "1"])
    await stack.start_twilio_rest()
    knowledge = await stack.start_knowledge(**knowledge_env)
    await seed_knowledge(harness_url, SAMPLES / "knowledge")
    agents = [await stack.start_agent(f"agent-{i + 1}", **path_env) for i in range(fault.agents)]
    gateways = [await stack.start_gateway(f"gw-{i + 1}", **path_env) for i in range(fault.gateways)]
    return Rig(stack, agents, gateways, knowledge, harness_url)


def _child(rig: Rig, name: str) -> Child:
    return next(c for c in rig.stack.children if c.name == name)


async def agent_kill(scene: Scene) -> Hit:
    """SIGKILL the agent that owns the most calls; the other agent has room for them."""
    owners = await scene.owners()
    victim = Counter(owners.values()).most_common(1)[0][0]
    hit = {c for c, agent in owners.items() if agent == victim}
    started = time.monotonic()
    await _child(scene.rig, victim).kill()
    return Hit(started, await scene.moved(hit, victim), hit)


async def agent_hang(scene: Scene) -> Hit:
    """SIGSTOP the agent that owns the most calls until its calls moved (or the bound), then
    let it run again: it must find it lost them and let go."""
    owners = await scene.owners()
    victim = Counter(owners.values()).most_common(1)[0][0]
    hit = {c for c, agent in owners.items() if agent == victim}
    pid = _child(scene.rig, victim).pid
    started = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        over = await scene.moved(hit, victim)
    finally:
        os.kill(pid, signal.SIGCONT)
    return Hit(started, over, hit)


async def agent_pause(scene: Scene) -> Hit:
    """SIGSTOP the agent that owns the most calls for :data:`PAUSE_S`, a little longer than
    the gateway's missed-beat window, as a long GC pause or a starved CPU does: it is judged
    lost and wakes while its calls are being moved."""
    owners = await scene.owners()
    victim = Counter(owners.values()).most_common(1)[0][0]
    hit = {c for c, agent in owners.items() if agent == victim}
    pid = _child(scene.rig, victim).pid
    started = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(PAUSE_S)  # the pause itself, not a wait for anything
    finally:
        os.kill(pid, signal.SIGCONT)
    return Hit(started, time.monotonic(), hit)


async def gateway_kill(scene: Scene) -> Hit:
    """SIGKILL the first gateway; the calls placed on the second are not on its path. The load
    balancer in front of the gateways sends Twilio's next requests (the ``<Connect action>``
    of the broken streams) to the one left."""
    victim, survivor = scene.rig.gateways[0], scene.rig.gateways[1]
    hit = {c for c, gateway in scene.calls.items() if gateway == victim.name}
    for caller in scene.callers:
        caller.config.gateway_url = survivor.announced
    started = time.monotonic()
    await victim.kill()
    return Hit(started, started, hit)


async def nats_node_kill(scene: Scene) -> Hit:
    """SIGKILL the cluster node the services are connected to."""
    stack = scene.rig.stack
    victim = stack.nats_nodes[0]
    owners = await scene.owners()
    on_victim = {
        name
        for name in {*scene.calls.values(), *owners.values()}
        if await stack.nats_node_of(name) is victim
    }
    hit = {c for c in scene.calls if {scene.calls[c], owners[c]} & on_victim}
    started = time.monotonic()
    await stack.kill_nats_node(victim)
    return Hit(started, started, hit)


async def nats_restart(scene: Scene) -> Hit:
    """Stop the single nats-server, and start it again on the same store after 5 s."""
    stack = scene.rig.stack
    started = time.monotonic()
    await stack.stop_nats()
    await asyncio.sleep(OUTAGE_S)  # the outage itself, not a wait for anything
    await stack.restart_nats()
    return Hit(started, time.monotonic(), set(scene.calls))


async def knowledge_hang(scene: Scene) -> Hit:
    """SIGSTOP the knowledge service until every call has asked it something."""
    pid = scene.rig.knowledge.pid
    started = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        with contextlib.suppress(TimeoutError):
            await scene.probe.wait_tool(list(scene.calls), "query_knowledge_base", HANG_BOUND_S)
    finally:
        os.kill(pid, signal.SIGCONT)
    return Hit(started, time.monotonic(), None)


async def realtime_drop(scene: Scene) -> Hit:
    """Drop every open Realtime link at once, without a close frame."""
    probe = scene.probe
    sessions = await probe.open_sessions()
    started = time.monotonic()
    for session in sessions:
        await probe.http.get(f"{probe.realtime_url}/_sim/sessions/{session['id']}/drop")
    # Each call in flight holds one session: every call is hit.
    return Hit(started, time.monotonic(), set(scene.calls))


FAULTS: tuple[Fault, ...] = (
    Fault("agent-kill", "agent kill -9", agent_kill, agents=2),
    Fault("agent-hang", "agent SIGSTOP until its calls moved", agent_hang, agents=2),
    Fault(
        "agent-pause", "agent SIGSTOP 1 s (wakes mid-move)", agent_pause, survivable=False, agents=2
    ),
    Fault("gateway-kill", "gateway kill -9", gateway_kill, gateways=2),
    Fault("nats-node-kill", "NATS node kill (3-node cluster)", nats_node_kill, cluster=True),
    Fault("nats-restart", "single-node NATS restart (5 s)", nats_restart),
    Fault(
        "knowledge-hang",
        "knowledge hang (SIGSTOP)",
        knowledge_hang,
        cuts_audio=False,
        mid_greeting=False,
    ),
    Fault("realtime-drop", "Realtime drop", realtime_drop),
)
BY_NAME = {f.name: f for f in FAULTS}
