"""Run the knowledge service: the nats.micro endpoints and the HTTP API in one process."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from typing import Any

from switchboard_common.bus import connected
from switchboard_common.business_store import open_directory
from switchboard_common.lifecycle import DrainSettings, StopSignals
from switchboard_common.runtime import run
from switchboard_common.serving import QuietServer, bind, server_config
from switchboard_common.settings import NatsSettings
from switchboard_common.telemetry import init_telemetry

from .api import create_api
from .backends.base import KnowledgeBackend
from .bus import KnowledgeBus
from .embeddings import make_embedder
from .embeddings.base import warm_up
from .embeddings.local import WordPieceCounter
from .jobs import JobStore
from .relevance import threshold_for
from .service import KnowledgeService
from .settings import KnowledgeSettings

log = logging.getLogger("switchboard_knowledge")


def build_backend(settings: KnowledgeSettings, dimensions: int) -> KnowledgeBackend:
    if settings.backend == "weaviate":
        from .backends.weaviate import WeaviateBackend

        api_key = settings.weaviate_api_key
        return WeaviateBackend(
            http_host=settings.weaviate_http_host,
            http_port=settings.weaviate_http_port,
            grpc_port=settings.weaviate_grpc_port,
            secure=settings.weaviate_secure,
            api_key=api_key.get_secret_value() if api_key else None,
            dimensions=dimensions,
        )
    from .backends.embedded import EmbeddedBackend

    return EmbeddedBackend(settings.data_dir, dimensions)


async def serve(settings: KnowledgeSettings) -> None:
    signals = StopSignals().install()
    drain = DrainSettings()
    embedder = make_embedder(settings)
    backend = build_backend(settings, embedder.dimensions)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(embedder.aclose)
        # The model loads before anything is served: no caller's first query pays for it.
        await warm_up(embedder)
        await backend.start()
        stack.push_async_callback(backend.close)
        nc = await stack.enter_async_context(connected(NatsSettings(), "knowledge"))
        directory = await open_directory(nc, settings.businesses_file)
        stack.push_async_callback(directory.close)
        threshold = threshold_for(embedder.name, backend.name, settings.relevance_threshold)
        log.log(
            logging.INFO if threshold.value is not None else logging.WARNING,
            "relevance threshold %s: %s",
            threshold.value,
            threshold.basis,
        )
        service = KnowledgeService(
            backend,
            embedder,
            directory,
            settings.chunk_max_tokens,
            settings.chunk_overlap_tokens,
            WordPieceCounter() if settings.embedder == "local" else None,
            threshold.value,
        )
        bus = KnowledgeBus(nc, service, settings.max_concurrent_requests)
        await bus.start()

        def readiness() -> dict[str, Any]:
            ready = nc.is_connected and not signals.draining.is_set()
            return {"ready": ready, "nats": nc.is_connected, "draining": signals.draining.is_set()}

        sock, url = bind(settings.host, settings.port)
        app = create_api(service, settings, readiness)
        server = QuietServer(server_config(app, lifespan="off"), f"KNOWLEDGE_URL={url}")
        http = asyncio.create_task(server.serve(sockets=[sock]), name="http")
        draining = asyncio.create_task(signals.draining.wait())
        await asyncio.wait({http, draining}, return_when=asyncio.FIRST_COMPLETED)
        # Drain: answer what is in flight, take nothing new, let ingestion jobs finish.
        log.info("draining")
        await bus.stop()
        jobs: JobStore = app.state.jobs
        await jobs.wait_all(drain.timeout_s)
        server.should_exit = True
        await http
        draining.cancel()


def main() -> None:
    init_telemetry("knowledge")
    run(serve(KnowledgeSettings()))


if __name__ == "__main__":
    main()
