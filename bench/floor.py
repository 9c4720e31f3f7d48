"""The floor of this topology: what the per-frame hops cost with nothing else in the way.

``python -m bench.floor --calls 100`` runs the same load as ``make bench`` (the same lean
Twilio stand-in, the same Realtime simulator in echo mode, the same nats-server) through two
bare relays in place of the gateway and the agent. They do only the I/O each frame needs in
this design and nothing else:

* relay-gateway: a plain ``websockets`` server (no ASGI, no FastAPI, no signatures); for each
  Twilio ``media`` message one orjson parse, one base64 decode, one NATS publish; for each
  agent chunk from NATS one base64 encode and one websocket send, and a mark every 100 ms;
* relay-agent: for each caller frame from NATS one ``input_audio_buffer.append`` sent over
  a plain websocket; for each audio delta one orjson parse, one base64 decode, one publish.

No validation, no metrics, no barge-in, no tracing, no logging. The difference between these
figures and ``make bench``'s is what our services add; these figures themselves are what the
hops cost in Python on this machine, whatever the services do.

``--direct`` prices the split into services itself: one relay bridges each Twilio stream
straight to its Realtime websocket, passing the base64 through untouched, as the
single-process sample bridges do. No bus, no second process.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import struct
import sys
from typing import Any

import nats
import orjson
from nats.aio.msg import Msg
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from switchboard_common.runtime import run
from switchboard_sim.stack import LocalStack

from .echo_load import EchoCall, run_load
from .stats import percentile

_SEQ = struct.Struct(">I")
MARK_EVERY = 5  # frames: 100 ms, the gateway's default mark interval


# --- the two relays (each runs as its own process) ----------------------------------------


async def relay_gateway(nats_url: str) -> None:
    nc = await nats.connect(nats_url)

    async def call(ws: ServerConnection) -> None:
        stream_sid = ""
        subject = ""
        sent = 0

        async def on_agent_audio(msg: Msg) -> None:
            nonlocal sent
            payload = base64.b64encode(memoryview(msg.data)[_SEQ.size :]).decode()
            await ws.send(
                f'{{"event":"media","streamSid":"{stream_sid}","media":{{"payload":"{payload}"}}}}'
            )
            sent += 1
            if sent % MARK_EVERY == 0:
                await ws.send(
                    f'{{"event":"mark","streamSid":"{stream_sid}","mark":{{"name":"{sent}"}}}}'
                )

        async for raw in ws:
            message = orjson.loads(raw)
            event = message["event"]
            if event == "media":
                await nc.publish(subject, base64.b64decode(message["media"]["payload"]))
            elif event == "start":
                stream_sid = message["streamSid"]
                call_id = message["start"]["callSid"]
                subject = f"floor.{call_id}.in"
                await nc.subscribe(f"floor.{call_id}.out", cb=on_agent_audio)
                await nc.request("floor.start", call_id.encode(), timeout=10)

    async with serve(call, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"RELAY_URL=ws://127.0.0.1:{port}", flush=True)
        await asyncio.Future()


async def relay_direct(realtime_url: str) -> None:
    ws_base = realtime_url.replace("http://", "ws://")

    async def call(twilio: ServerConnection) -> None:
        openai = await connect(
            f"{ws_base}/realtime?model=gpt-realtime",
            additional_headers={"Authorization": "Bearer sk-floor"},
            compression=None,
        )
        stream_sid = ""

        async def play() -> None:
            sent = 0
            async for raw in openai:
                event: Any = orjson.loads(raw)
                if event["type"] == "response.output_audio.delta":
                    payload = event["delta"]
                    await twilio.send(
                        f'{{"event":"media","streamSid":"{stream_sid}",'
                        f'"media":{{"payload":"{payload}"}}}}'
                    )
                    sent += 1
                    if sent % MARK_EVERY == 0:
                        await twilio.send(
                            f'{{"event":"mark","streamSid":"{stream_sid}",'
                            f'"mark":{{"name":"{sent}"}}}}'
                        )

        player = asyncio.create_task(play())
        try:
            async for raw in twilio:
                message = orjson.loads(raw)
                if message["event"] == "media":
                    b64 = message["media"]["payload"]
                    await openai.send(f'{{"type":"input_audio_buffer.append","audio":"{b64}"}}')
                elif message["event"] == "start":
                    stream_sid = message["streamSid"]
        finally:
            player.cancel()
            await openai.close()

    async with serve(call, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"RELAY_URL=ws://127.0.0.1:{port}", flush=True)
        await asyncio.Future()


async def relay_agent(nats_url: str, realtime_url: str) -> None:
    nc = await nats.connect(nats_url)
    ws_base = realtime_url.replace("http://", "ws://")
    tasks: set[asyncio.Task[None]] = set()

    async def on_start(request: Msg) -> None:
        call_id = request.data.decode()
        ws = await connect(
            f"{ws_base}/realtime?model=gpt-realtime",
            additional_headers={"Authorization": "Bearer sk-floor"},
            compression=None,
        )
        out = f"floor.{call_id}.out"

        async def on_caller_audio(msg: Msg) -> None:
            b64 = base64.b64encode(msg.data).decode()
            await ws.send(f'{{"type":"input_audio_buffer.append","audio":"{b64}"}}')

        async def read() -> None:
            seq = 0
            async for raw in ws:
                event: Any = orjson.loads(raw)
                if event["type"] == "response.output_audio.delta":
                    seq += 1
                    await nc.publish(out, _SEQ.pack(seq) + base64.b64decode(event["delta"]))

        task = asyncio.create_task(read())
        tasks.add(task)
        await nc.subscribe(f"floor.{call_id}.in", cb=on_caller_audio)
        await request.respond(b"ok")

    await nc.subscribe("floor.start", cb=on_start)
    await nc.flush()
    print("RELAY_READY=1", flush=True)
    await asyncio.Future()


# --- the load ------------------------------------------------------------------------------


async def _place(url: str, index: int) -> EchoCall:
    ws = await connect(url, compression=None)
    call_sid, stream_sid = f"CA{index:032x}", f"MZ{index:032x}"
    start = {"callSid": call_sid, "streamSid": stream_sid, "tracks": ["inbound"]}
    await ws.send(orjson.dumps({"event": "start", "streamSid": stream_sid, "start": start}))
    return EchoCall(index, ws, stream_sid)


async def run_floor(
    n_calls: int, seconds: float, warmup_s: float, direct: bool = False
) -> dict[str, Any]:
    async with LocalStack() as stack:
        me = [sys.executable, "-m", "bench.floor"]
        pids: dict[str, int] = {}
        if direct:
            realtime_url = await stack.start_realtime_sim(echo=True)
            pids["realtime-sim"] = stack.children[0].pid
            gateway = await stack.spawn("relay-direct", [*me, "direct", realtime_url], "RELAY_URL=")
            pids["bridge"] = gateway.pid
        else:
            nats_url = await stack.start_nats()
            realtime_url = await stack.start_realtime_sim(echo=True)
            pids["nats"], pids["realtime-sim"] = stack.children[0].pid, stack.children[1].pid
            agent = await stack.spawn(
                "relay-agent", [*me, "agent", nats_url, realtime_url], "RELAY_READY="
            )
            gateway = await stack.spawn("relay-gateway", [*me, "gateway", nats_url], "RELAY_URL=")
            pids["gateway"], pids["agent"] = gateway.pid, agent.pid
        pids["load-client"] = os.getpid()
        calls = [await _place(gateway.announced, i) for i in range(n_calls)]
        load = await run_load(calls, pids, warmup_s, seconds)

    cpu = {name: load.cpu_pct_core(name) for name in pids}
    latencies = [lat for c in calls for lat in c.latencies_ms]
    sent = sum(len(c.sent_at) for c in calls)
    ours = sum(cpu.get(name, 0.0) for name in ("gateway", "agent", "nats", "bridge"))
    return {
        "calls": n_calls,
        "direct": direct,
        "frames_lost": sent - sum(c.echoed for c in calls),
        "latency_ms": {
            q: percentile(latencies, v) for q, v in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
        },
        "cpu_pct_core": cpu,
        "per_call_cpu_pct_core": ours / n_calls,
    }


def render(result: dict[str, Any]) -> str:
    lat, cpu = result["latency_ms"], result["cpu_pct_core"]
    kind = "direct bridge" if result["direct"] else "floor"
    ours = "bridge" if result["direct"] else "relays + nats"
    return (
        f"{kind} N = {result['calls']}: {result['frames_lost']} frames lost; "
        f"echo p50 {lat['p50']:.2f} p90 {lat['p90']:.2f} p99 {lat['p99']:.2f} ms\n"
        + "".join(f"  {name:<14} cpu {pct:6.1f} % of a core\n" for name, pct in cpu.items())
        + f"  per call ({ours}): {result['per_call_cpu_pct_core']:.3f} % of a core "
        f"({100 / result['per_call_cpu_pct_core']:.0f} calls per core)"
    )


async def _load(args: argparse.Namespace) -> None:
    for n in args.calls:
        print(render(await run_floor(n, args.seconds, args.warmup, args.direct)), flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "gateway":
        run(relay_gateway(sys.argv[2]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "direct":
        run(relay_direct(sys.argv[2]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "agent":
        run(relay_agent(sys.argv[2], sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=lambda s: [int(x) for x in s.split(",")], default=[100])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--direct", action="store_true", help="one bridge process, no bus")
    run(_load(parser.parse_args()))


if __name__ == "__main__":
    main()
