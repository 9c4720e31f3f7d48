"""``make demo``: one complete simulated phone call through every service.

Starts nats-server (JetStream), the Realtime simulator (or uses real OpenAI when
``OPENAI_API_KEY`` is set), the knowledge service (seeded with the business's sample content),
an agent and the media gateway as real processes on 127.0.0.1, places a call with the Twilio
call simulator, prints the transcript and the timings as they
happen, writes what the caller heard to ``demo-output/agent-audio.wav`` and stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import nats

from switchboard_common import subjects
from switchboard_common.knowledge import ERROR_CODE_HEADER, IngestReply, IngestRequest

from .call import CallConfig, CallSimulator, Scenario
from .stack import LocalStack, StackError, nats_servers

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", type=Path, default=SAMPLES / "opening_hours.json")
    parser.add_argument(
        "--realtime-script", type=Path, default=SAMPLES / "opening_hours.realtime.json"
    )
    parser.add_argument("--knowledge", type=Path, default=SAMPLES / "knowledge")
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    return parser.parse_args()


def _documents(folder: Path) -> list[tuple[str, str]]:
    return [(path.name, path.read_text()) for path in sorted(folder.glob("*.md"))]


async def seed_knowledge(nats_url: str, folder: Path, business_id: str = "bellas-bistro") -> None:
    """Give the demo business its content, through the knowledge service's bus API."""
    nc = await nats.connect(nats_servers(nats_url))
    try:
        for name, text in await asyncio.to_thread(_documents, folder):
            request = IngestRequest(
                business_id=business_id, source=name, content_type="text/markdown", text=text
            )
            msg = await nc.request(subjects.KNOWLEDGE_INGEST, request.to_bytes(), timeout=60)
            if msg.headers and ERROR_CODE_HEADER in msg.headers:
                raise StackError(f"seeding {name} failed: {msg.headers}")
            reply = IngestReply.model_validate_json(msg.data)
            print(f"knowledge: {name} -> {reply.document.chunks} chunks for {business_id}")
    finally:
        await nc.close()


async def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    use_openai = bool(os.environ.get("OPENAI_API_KEY"))
    args.out.mkdir(parents=True, exist_ok=True)
    async with LocalStack(keep_workdir=True) as stack:
        print(f"starting the stack (logs in {stack.workdir})", flush=True)
        await stack.start_nats()
        if use_openai:
            stack.realtime_url = os.environ.get("OPENAI_BASE_URL", "")
            print("using OpenAI Realtime (OPENAI_API_KEY is set)")
        else:
            await stack.start_realtime_sim(script=args.realtime_script)
        env = {"OPENAI_API_KEY": os.environ["OPENAI_API_KEY"]} if use_openai else {}
        await stack.start_knowledge()
        await seed_knowledge(stack.nats_url, args.knowledge)
        await stack.start_agent("agent-1", **env)
        gateway = await stack.start_gateway("gateway-1")
        print(f"stack up in {time.perf_counter() - started:.1f}s: {stack.describe()}", flush=True)

        config = CallConfig(
            gateway_url=gateway.announced,
            public_base_url=stack.public_base_url,
            auth_token=stack.auth_token,
            nats_url=stack.nats_url,
            record_path=args.out / "agent-audio.wav",
            log=print,
        )
        result = await CallSimulator(config).run(Scenario.load(args.scenario))
        print(result.summary())
        print(f"caller audio heard: {args.out / 'agent-audio.wav'}")
        if not result.ok:
            for child in stack.children:
                print(f"--- {child.name} log tail ---\n{child.log_tail()}", file=sys.stderr)
    print(f"demo finished in {time.perf_counter() - started:.1f}s")
    return 0 if result.ok else 1


def main() -> None:
    try:
        sys.exit(asyncio.run(run(_args())))
    except StackError as exc:
        print(f"demo failed to start: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
