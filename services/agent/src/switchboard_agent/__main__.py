"""Run an agent process: ``python -m switchboard_agent`` (configured by the environment)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from nats.aio.client import Client
from openai import AsyncOpenAI

from switchboard_common.bus import connected
from switchboard_common.business_store import open_directory
from switchboard_common.event_stream import EventStreamSettings, ensure_stream
from switchboard_common.lifecycle import DrainSettings, StopSignals, ops_app
from switchboard_common.runtime import run
from switchboard_common.serving import QuietServer, bind, server_config
from switchboard_common.settings import NatsSettings
from switchboard_common.telemetry import init_telemetry

from .settings import AgentSettings
from .tools import ToolRegistry
from .tools.builtin import register_builtin_tools
from .worker import AgentWorker

log = logging.getLogger("switchboard_agent")


def _readiness(nc: Client, worker: AgentWorker | None) -> dict[str, Any]:
    connected_ = nc.is_connected
    accepting = worker is not None and worker.accepting
    return {
        "ready": connected_ and accepting,
        "nats": connected_,
        "accepting": accepting,
        "active_calls": len(worker.sessions) if worker else 0,
    }


async def serve(settings: AgentSettings) -> None:
    signals = StopSignals().install()
    drain = DrainSettings()
    openai = AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url
    )
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(openai.close)
        nc = await stack.enter_async_context(connected(NatsSettings(), settings.agent_id))
        worker: AgentWorker | None = None
        if settings.metrics_port is not None:
            # Up before the worker so liveness answers during start-up; not ready until then.
            sock, url = bind(settings.metrics_host, settings.metrics_port)
            ops = QuietServer(
                server_config(ops_app(lambda: _readiness(nc, worker)), lifespan="off"),
                f"AGENT_OPS_URL={url}",
            )
            ops_task = asyncio.create_task(ops.serve(sockets=[sock]), name="ops-http")

            async def stop_ops() -> None:
                ops.should_exit = True
                await ops_task

            stack.push_async_callback(stop_ops)
        directory = await open_directory(nc, settings.businesses_file)
        stack.push_async_callback(directory.close)
        events = EventStreamSettings()
        await ensure_stream(
            nc.jetstream(), events.retention_s, events.replicas, events.duplicate_window_s
        )
        tools = register_builtin_tools(
            ToolRegistry(breaker_policy=settings.breaker_policy()), settings.knowledge_deadline_s
        )
        worker = AgentWorker(settings, nc, directory, tools, openai)
        await worker.start()
        print(f"AGENT_READY={settings.agent_id}", flush=True)
        await signals.draining.wait()
        await worker.stop(drain.timeout_s, signals.now)
        log.info("drained; closing the bus connection")


def main() -> None:
    init_telemetry("agent")
    run(serve(AgentSettings()))


if __name__ == "__main__":
    main()
