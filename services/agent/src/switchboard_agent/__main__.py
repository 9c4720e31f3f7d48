"""Run an agent process: ``python -m switchboard_agent`` (configured by the environment)."""

from __future__ import annotations

import asyncio
import logging
import signal

from openai import AsyncOpenAI
from prometheus_client import start_http_server

from switchboard_common.bus import connected
from switchboard_common.business_store import open_directory
from switchboard_common.event_stream import EventStreamSettings, ensure_stream
from switchboard_common.runtime import run
from switchboard_common.settings import NatsSettings
from switchboard_common.telemetry import init_telemetry

from .settings import AgentSettings
from .tools import ToolRegistry
from .tools.builtin import register_builtin_tools
from .worker import AgentWorker

log = logging.getLogger("switchboard_agent")


async def serve(settings: AgentSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    openai = AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url
    )
    async with connected(NatsSettings(), settings.agent_id) as nc:
        directory = await open_directory(nc, settings.businesses_file)
        events = EventStreamSettings()
        await ensure_stream(
            nc.jetstream(), events.retention_s, events.replicas, events.duplicate_window_s
        )
        worker = AgentWorker(
            settings, nc, directory, register_builtin_tools(ToolRegistry()), openai
        )
        await worker.start()
        print(f"AGENT_READY={settings.agent_id}", flush=True)
        await stop.wait()
        log.info("draining: %d calls in progress", len(worker.sessions))
        await worker.stop()
        await directory.close()
    await openai.close()


def main() -> None:
    init_telemetry("agent")
    settings = AgentSettings()
    if settings.metrics_port is not None:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    run(serve(settings))


if __name__ == "__main__":
    main()
