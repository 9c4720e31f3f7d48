"""New calls while an agent hangs: how long Twilio waits for the voice webhook's answer, and
how many calls are refused although another agent is free.

A hung agent (SIGSTOP here: a stalled VM, a deadlock) keeps its NATS subscriptions until the
server's pings give up on it, minutes later; an offer that lands on it waits out the gateway's
dispatch timeout (2 s) before the next try. The bench starts the bus, the Realtime simulator,
two agents and a gateway on 127.0.0.1, freezes one agent, waits until its heartbeats have been
missing for longer than the gateway's judgement window, then posts signed voice webhooks one
after another and times each answer.

    python -m bench.dispatch_hang --calls 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import time
from collections.abc import Callable
from urllib.parse import urljoin

import httpx
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from switchboard_common import subjects
from switchboard_common.messages import AgentHeartbeat
from switchboard_common.runtime import run
from switchboard_sim.call.signing import SIGNATURE_HEADER, new_sid, twilio_signature
from switchboard_sim.stack import LocalStack

#: The demo business's number (seeded in development).
TO_NUMBER = "+15550100"
#: Heartbeats missing for this long (three beats of 0.25 s, and a margin) mean judged lost.
JUDGED_AFTER_S = 1.0
#: Each agent's room: more than the calls placed, so "refused" means the dispatch failed.
MAX_CALLS = "50"


async def _last_beats(nats_url: str) -> tuple[Client, dict[str, float]]:
    nc = await nats.connect(nats_url)
    beats: dict[str, float] = {}

    async def note(msg: Msg) -> None:
        beats[AgentHeartbeat.model_validate_json(msg.data).agent_id] = time.monotonic()

    await nc.subscribe(subjects.AGENT_HEARTBEATS, cb=note)
    return nc, beats


async def _until(condition: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``condition`` (the heartbeat times it reads change from a NATS callback)."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def measure(calls: int) -> dict[str, object]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim()
        hung = await stack.start_agent("agent-hung", AGENT_MAX_CALLS=MAX_CALLS)
        await stack.start_agent("agent-free", AGENT_MAX_CALLS=MAX_CALLS)
        gateway = await stack.start_gateway("gw-1")
        nc, beats = await _last_beats(stack.nats_url)
        try:
            await _until(lambda: {"agent-hung", "agent-free"} <= beats.keys(), 10)
            os.kill(hung.pid, signal.SIGSTOP)
            stopped = time.monotonic()
            await _until(lambda: time.monotonic() - beats["agent-hung"] > JUDGED_AFTER_S, 10)
            judged_s = time.monotonic() - stopped
            latencies, answered, refused = await _place(stack, gateway.announced, calls)
        finally:
            os.kill(hung.pid, signal.SIGCONT)
            await nc.close()
    return {
        "calls": calls,
        "answered": answered,
        "refused": refused,
        "webhook_p50_s": statistics.median(latencies),
        "webhook_max_s": max(latencies),
        "over_1s": sum(x > 1.0 for x in latencies),
        "hang_to_first_call_s": judged_s,
    }


async def _place(stack: LocalStack, gateway_url: str, calls: int) -> tuple[list[float], int, int]:
    latencies: list[float] = []
    answered = refused = 0
    path = "/twilio/voice"
    public = urljoin(stack.public_base_url, path)
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(calls):
            params = {
                "AccountSid": stack.account_sid,
                "CallSid": new_sid("CA"),
                "CallStatus": "ringing",
                "From": "+15557777",
                "To": TO_NUMBER,
                "Direction": "inbound",
            }
            headers = {SIGNATURE_HEADER: twilio_signature(stack.auth_token, public, params)}
            started = time.perf_counter()
            response = await http.post(urljoin(gateway_url, path), data=params, headers=headers)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
            if "<Connect" in response.text:
                answered += 1
            else:
                refused += 1
    return latencies, answered, refused


async def main(args: argparse.Namespace) -> None:
    result = await measure(args.calls)
    print(
        f"new calls while an agent hangs: {result['answered']} of {result['calls']} answered, "
        f"{result['refused']} refused; webhook answer p50 {result['webhook_p50_s']:.3f} s, "
        f"max {result['webhook_max_s']:.3f} s, {result['over_1s']} over 1 s"
    )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch_hang", description=__doc__)
    parser.add_argument("--calls", type=int, default=20)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main(parse()))
