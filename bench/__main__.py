"""``make bench``: per-frame added latency, frames lost, CPU and memory per call.

For each N (default 10, 100, 300) a fresh stack is started — nats-server, the Realtime
simulator in echo mode, one agent, one gateway — and N simulated calls stream tagged frames for
a fixed time. Printed: echo latency percentiles, frames lost, CPU (% of one core) and RSS per
process, and per call across our own processes (gateway + agent + nats-server). The load
client and the simulator stand in for Twilio and OpenAI; their CPU is shown but not counted
per call. Before the calls, the knowledge service: query latency over NATS at 1k/10k/100k
chunks (:mod:`bench.knowledge`), then its memory and throughput while 10 MB of documents are
ingested (:mod:`bench.knowledge_memory`). Results also go to ``bench-output/results.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from switchboard_common.runtime import run
from switchboard_sim.stack import LocalStack

from . import call_timings, codec, floor, knowledge, knowledge_memory
from .chaos.faults import BY_NAME
from .chaos.run import run_fault
from .echo_load import EchoCall, place_call, run_load
from .procstat import sample
from .stats import percentile

OURS = ("gateway", "agent", "nats")
#: An echo p50 above this means the machine, not the system, sets the pace.
SATURATED_P50_MS = 100.0


async def run_one(
    n_calls: int, seconds: float, warmup_s: float, gateway_env: dict[str, str]
) -> dict[str, Any]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(echo=True)
        await stack.start_agent("agent", AGENT_MAX_CALLS="5000")
        gateway = await stack.start_gateway("gateway", GATEWAY_MAX_CALLS="5000", **gateway_env)
        pids = {c.name: c.pid for c in stack.children}
        pids["load-client"] = os.getpid()
        idle = {name: sample(pid) for name, pid in pids.items()}

        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(limits=limits, timeout=30) as http:
            gate = asyncio.Semaphore(25)

            async def dial(i: int) -> EchoCall:
                async with gate:
                    return await place_call(
                        http, gateway.announced, stack.public_base_url, stack.auth_token, i
                    )

            setup_started = time.perf_counter()
            calls = list(await asyncio.gather(*(dial(i) for i in range(n_calls))))
            setup_s = time.perf_counter() - setup_started
        load = await run_load(calls, pids, warmup_s, seconds)

    latencies = [lat for c in calls for lat in c.latencies_ms]
    sent = sum(len(c.sent_at) for c in calls)  # warm-up included: every frame must come back
    echoed = sum(c.echoed for c in calls)
    processes = {
        name: {
            "cpu_pct_core": load.cpu_pct_core(name),
            "rss_mb": load.after[name].rss_mb,
            "rss_idle_mb": idle[name].rss_mb,
        }
        for name in pids
    }
    ours_cpu = sum(processes[n]["cpu_pct_core"] for n in OURS)
    ours_rss_growth = sum(processes[n]["rss_mb"] - processes[n]["rss_idle_mb"] for n in OURS)
    return {
        "calls": n_calls,
        "seconds": round(load.elapsed_s, 2),
        "setup_s": round(setup_s, 2),
        "frames_sent": sent,
        "frames_lost": sent - echoed,
        "latency_ms": {
            "p50": percentile(latencies, 0.50),
            "p90": percentile(latencies, 0.90),
            "p99": percentile(latencies, 0.99),
            "max": max(latencies) if latencies else float("nan"),
            "mean": statistics.fmean(latencies) if latencies else float("nan"),
        },
        "processes": processes,
        "per_call": {
            "cpu_pct_core": ours_cpu / n_calls,
            "rss_mb": ours_rss_growth / n_calls,
        },
    }


def render(result: dict[str, Any]) -> str:
    lat = result["latency_ms"]
    lines = [
        f"N = {result['calls']} calls, {result['seconds']} s measured "
        f"(set-up {result['setup_s']} s): {result['frames_sent']} frames, "
        f"{result['frames_lost']} lost",
        f"  echo latency ms: p50 {lat['p50']:.2f}  p90 {lat['p90']:.2f}  p99 {lat['p99']:.2f}  "
        f"max {lat['max']:.2f}",
    ]
    for name, proc in result["processes"].items():
        ours = " (ours)" if name in OURS else ""
        lines.append(
            f"  {name + ours:<22} cpu {proc['cpu_pct_core']:6.1f} % of a core   "
            f"rss {proc['rss_mb']:7.1f} MB (idle {proc['rss_idle_mb']:.1f})"
        )
    per_call = result["per_call"]
    if lat["p50"] > SATURATED_P50_MS:
        lines.append(
            "  SATURATED: frames queue, so the CPU per call below is a ceiling, not a cost"
        )
    lines.append(
        f"  per call (gateway+agent+nats): cpu {per_call['cpu_pct_core']:.3f} % of a core "
        f"({100 / per_call['cpu_pct_core']:.0f} calls per core), "
        f"rss {per_call['rss_mb'] * 1000:.0f} kB"
    )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    print(codec.report(), flush=True)
    results: list[dict[str, Any]] = []
    for i, size in enumerate(args.knowledge):
        row = await knowledge.bench_size(size, measure_ingest=i == 0)
        row["kind"] = "knowledge"
        results.append(row)
        print(knowledge.render(row), flush=True)
    if args.knowledge_ingest_mb > 0:
        row = await knowledge_memory.bench_ingest_memory(args.knowledge_ingest_mb)
        row["kind"] = "knowledge_ingest"
        results.append(row)
        print(knowledge_memory.render(row), flush=True)
    for n in args.calls:
        gateway_env = {}
        if args.mark_interval_ms is not None:
            gateway_env["GATEWAY_MARK_INTERVAL_MS"] = str(args.mark_interval_ms)
        result = await run_one(n, args.seconds, args.warmup, gateway_env)
        result["kind"] = "echo"
        result["mark_interval_ms"] = args.mark_interval_ms
        results.append(result)
        print(render(result), flush=True)
    if args.timings:
        row = await call_timings.run_timings(args.timings)
        results.append(row)
        print(call_timings.render(row), flush=True)
    if args.drop:
        row = await realtime_drop_silence(args.drop)
        results.append(row)
        print(render_drop(row), flush=True)
    for n in args.floor:
        for direct in (False, True):
            row = await floor.run_floor(n, args.seconds, args.warmup, direct=direct)
            row["kind"] = "floor"
            results.append(row)
            print(floor.render(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"results: {args.out / 'results.json'}")


async def realtime_drop_silence(n_calls: int) -> dict[str, Any]:
    """The caller's silence when the model's connection drops mid-answer: ``make chaos``'s
    Realtime-drop fault, timed here too so ``make bench`` carries every call timing."""
    done = await run_fault(BY_NAME["realtime-drop"], n_calls, 1)
    hit = [o for o in done.outcomes if o.hit]
    silences = sorted(o.silence_s for o in hit if o.stayed_up)
    return {
        "kind": "realtime_drop",
        "calls": n_calls,
        "hit": len(hit),
        "survived": sum(o.survived for o in hit),
        "silence_s": {
            "p50": statistics.median(silences) if silences else None,
            "max": max(silences) if silences else None,
        },
    }


def render_drop(row: dict[str, Any]) -> str:
    silence = row["silence_s"]
    heard = (
        f"silence p50 {silence['p50']:.2f} s, max {silence['max']:.2f} s"
        if silence["p50"] is not None
        else "no call stayed up"
    )
    return (
        f"Realtime drop mid-answer, {row['calls']} calls: {row['survived']}/{row['hit']} hit "
        f"calls survived; {heard}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--calls", type=lambda s: [int(x) for x in s.split(",") if x], default=[10, 100, 300]
    )
    parser.add_argument(
        "--knowledge",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[1_000, 10_000, 100_000],
        help="knowledge store sizes in chunks ('' to skip)",
    )
    parser.add_argument(
        "--knowledge-ingest-mb",
        type=float,
        default=10.0,
        help="MB of documents ingested for the knowledge service's memory and throughput (0: skip)",
    )
    parser.add_argument(
        "--floor",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[100],
        help="call counts for the bare-relay floor and the direct bridge (bench/floor.py)",
    )
    parser.add_argument(
        "--timings", type=int, default=10, help="calls timed for greeting and hang-up (0: skip)"
    )
    parser.add_argument(
        "--drop", type=int, default=10, help="calls timed through a Realtime drop (0: skip)"
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--mark-interval-ms", type=int, default=None, help="gateway mark interval (its default)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-output"))
    args = parser.parse_args()
    run(main_async(args))


if __name__ == "__main__":
    main()
