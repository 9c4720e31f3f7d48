"""``make up``: the stack in the foreground, for a real Twilio number.

Starts nats-server (JetStream, data kept under ``.switchboard/``), one agent and the gateway,
then prints every transcript line as calls happen, until Ctrl-C. Configure with:

* ``PUBLIC_BASE_URL`` — the https URL Twilio reaches the gateway at (a tunnel or ingress);
  set the number's voice webhook to ``$PUBLIC_BASE_URL/twilio/voice`` (HTTP POST).
* ``TWILIO_AUTH_TOKEN`` — to check Twilio's signatures.
* ``OPENAI_API_KEY`` (and optionally ``OPENAI_BASE_URL``) — without a key the Realtime
  simulator stands in, so the stack also runs offline with the call simulator.
* ``GATEWAY_HOST`` / ``GATEWAY_PORT`` — where the gateway listens (127.0.0.1:8080).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import nats
from nats.aio.msg import Msg

from switchboard_common import subjects
from switchboard_common.messages import TranscriptEvent, call_event_adapter
from switchboard_common.runtime import run

from .stack import LocalStack, StackError


async def _serve(workdir: Path) -> int:
    stack = LocalStack(
        workdir=workdir,
        auth_token=os.environ.get("TWILIO_AUTH_TOKEN", "dev-auth-token"),
        public_base_url=os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8080"),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with stack:
        await stack.start_nats()
        if os.environ.get("OPENAI_API_KEY"):
            stack.realtime_url = os.environ.get("OPENAI_BASE_URL", "")
            print("model: OpenAI Realtime")
        else:
            await stack.start_realtime_sim()
            print(f"model: Realtime simulator at {stack.realtime_url} (no OPENAI_API_KEY)")
        openai_env = {k: os.environ[k] for k in ("OPENAI_API_KEY",) if k in os.environ}
        knowledge = await stack.start_knowledge(
            "knowledge-1",
            KNOWLEDGE_DATA_DIR=str(workdir / "knowledge"),  # kept across runs
            KNOWLEDGE_PORT=os.environ.get("KNOWLEDGE_PORT", "8090"),
            KNOWLEDGE_ADMIN_TOKEN=os.environ.get("KNOWLEDGE_ADMIN_TOKEN", "dev-knowledge-token"),
        )
        await stack.start_agent("agent-1", **openai_env)
        gateway = await stack.start_gateway(
            "gateway-1",
            GATEWAY_HOST=os.environ.get("GATEWAY_HOST", "127.0.0.1"),
            GATEWAY_PORT=os.environ.get("GATEWAY_PORT", "8080"),
        )
        print(f"gateway listening on {gateway.announced}")
        print(f"Twilio voice webhook: {stack.public_base_url}/twilio/voice (HTTP POST)")
        print(f"knowledge API (uploads) on {knowledge.announced}")
        print(f"NATS for the CLI (user admin): NATS_URL={stack.nats_url_for('admin')}")
        print(f"logs: {workdir}/*.log — Ctrl-C to stop\n")

        async def show(msg: Msg) -> None:
            with contextlib.suppress(ValueError):
                event = call_event_adapter.validate_json(msg.data)
                if isinstance(event, TranscriptEvent):
                    print(f"[{event.business_id}/{event.call_id}] {event.speaker}: {event.text}")
                else:
                    print(f"[{event.business_id}/{event.call_id}] tool {event.name} ok={event.ok}")

        nc = await nats.connect(stack.nats_url)
        await nc.subscribe(subjects.TRANSCRIPTS, cb=show)
        await stop.wait()
        await nc.drain()
        print("stopping…")
    return 0


def main() -> None:
    workdir = Path(".switchboard").resolve()
    workdir.mkdir(exist_ok=True)
    try:
        raise SystemExit(run(_serve(workdir)))
    except StackError as exc:
        raise SystemExit(f"could not start: {exc}") from None


if __name__ == "__main__":
    main()
