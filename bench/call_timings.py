"""The moments of a call a caller notices, timed on real processes (``make bench``).

- **Greeting:** from the media stream's start to the first audio of the greeting. The agent
  opens its Realtime session when it takes the call at the voice webhook, so the greeting
  can start as soon as the stream does. The first call after an agent starts is reported
  apart (its process is cold).
- **Goodbye to hang-up:** from the end of the goodbye the caller heard to the line closing
  (the gateway waits for Twilio's mark of the goodbye's last audio).

Silence after a Realtime drop and every other fault is measured by ``make chaos``.

Run alone: ``python -m bench.call_timings --calls 10``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from switchboard_common.business import DEMO_BUSINESS
from switchboard_sim.call import CallConfig, CallSimulator, Scenario
from switchboard_sim.stack import LocalStack

SAMPLES = Path(__file__).resolve().parents[1] / "simulators" / "samples"
ASK = "Hi, what are your opening hours?"
GOODBYE = "Thanks for calling, goodbye!"


def _script() -> dict[str, Any]:
    """The model answers the caller's question with a goodbye and ``end_call``."""
    return {
        "turns": [
            {
                "caller": ASK,
                "tool": {"name": "end_call", "arguments": {"reason": "done"}},
                "agent_after_tool": GOODBYE,
            }
        ]
    }


def _scenario() -> Scenario:
    turns = [{"say": ASK, "wav": "turn1_opening_hours.wav"}, {"expect_hangup": True}]
    return Scenario.from_dict({"turns": turns}, base_dir=SAMPLES)


async def _one_call(stack: LocalStack, gateway_url: str) -> tuple[float, float]:
    """(greeting ms, goodbye-to-hang-up ms) of one call."""
    config = CallConfig(
        gateway_url=gateway_url,
        public_base_url=stack.public_base_url,
        auth_token=stack.auth_token,
        account_sid=stack.account_sid,
        max_call_s=60.0,
    )
    caller = CallSimulator(config)
    result = await caller.run(_scenario())
    stream = caller.stream
    if stream is None or not result.ok:
        raise RuntimeError(f"the timed call failed:\n{result.summary()}")
    greeting_ms = (stream.first_media_at - stream.started_at) * 1000
    # Twilio's simulator echoes a mark as its frame starts playing: a line that closes inside
    # the goodbye's last frame counts as closing at its end (the resolution is one frame).
    hang_up_ms = max(0.0, (stream.closed_at - stream.play_end_at) * 1000)
    return greeting_ms, hang_up_ms


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))],
        "max": ordered[-1],
    }


async def run_timings(calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "script.json").write_text(json.dumps(_script()))
        (folder / "businesses.json").write_text(json.dumps([DEMO_BUSINESS.model_dump(mode="json")]))
        env = {"SWITCHBOARD_BUSINESSES_FILE": str(folder / "businesses.json")}
        async with LocalStack() as stack:
            await stack.start_nats()
            await stack.start_realtime_sim(script=folder / "script.json")
            await stack.start_agent("agent-timings", **env)
            gateway = await stack.start_gateway("gw-timings", **env)
            timings = [await _one_call(stack, gateway.announced) for _ in range(calls + 1)]
    cold, warm = timings[0], timings[1:]
    return {
        "kind": "call_timings",
        "calls": calls,
        "greeting_ms": _stats([g for g, _ in warm]),
        "greeting_cold_ms": cold[0],
        "goodbye_to_hang_up_ms": _stats([h for _, h in warm]),
    }


def render(row: dict[str, Any]) -> str:
    g, h = row["greeting_ms"], row["goodbye_to_hang_up_ms"]
    return (
        f"call timings over {row['calls']} calls (after one cold call):\n"
        f"  greeting after the stream's start  p50 {g['p50']:.0f}  p90 {g['p90']:.0f}  "
        f"max {g['max']:.0f} ms (cold call: {row['greeting_cold_ms']:.0f} ms)\n"
        f"  goodbye heard to hang-up           p50 {h['p50']:.0f}  p90 {h['p90']:.0f}  "
        f"max {h['max']:.0f} ms (to within one 20 ms frame)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    print(render(asyncio.run(run_timings(args.calls))))


if __name__ == "__main__":
    main()
