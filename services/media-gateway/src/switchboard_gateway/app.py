"""The gateway's FastAPI app and its lifespan (bus connection, shared context)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from switchboard_common.bus import BUS_UNAVAILABLE, connected
from switchboard_common.business_store import BusinessStore, open_directory
from switchboard_common.event_stream import EventStreamSettings, ensure_stream
from switchboard_common.http_api import tidy_openapi
from switchboard_common.settings import NatsSettings

from .calls.dispatch import Dispatcher
from .calls.liveness import AgentLiveness
from .calls.records import CallRecords
from .console import include_console, open_console
from .context import GatewayContext
from .routes import admin, health, media, transfer, voice
from .routes.calls import make_calls_router
from .settings import GatewaySettings
from .twilio.rest import TwilioCallControl
from .twilio.signature import SignatureChecker

log = logging.getLogger(__name__)


def _call_control(settings: GatewaySettings) -> TwilioCallControl | None:
    if not settings.twilio_account_sid:
        return None
    return TwilioCallControl(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        settings.twilio_api_base_url,
    )


def create_app(settings: GatewaySettings, nats_settings: NatsSettings | None = None) -> FastAPI:
    nats_settings = nats_settings or NatsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            nc = await stack.enter_async_context(connected(nats_settings, settings.gateway_id))
            businesses = await BusinessStore.open(nc)
            directory = await open_directory(nc, settings.businesses_file, store=businesses)
            stack.push_async_callback(directory.close)
            events = EventStreamSettings()
            await ensure_stream(
                nc.jetstream(), events.retention_s, events.replicas, events.duplicate_window_s
            )
            liveness = AgentLiveness(settings.agent_missed_beats)
            ctx = GatewayContext(
                settings=settings,
                nc=nc,
                records=await CallRecords.open(nc, settings.call_record_ttl_s),
                directory=directory,
                businesses=businesses,
                signatures=SignatureChecker(settings.twilio_auth_token.get_secret_value()),
                dispatcher=Dispatcher(
                    nc, settings.dispatch_timeout_s, settings.dispatch_attempts, liveness.takers
                ),
                liveness=liveness,
                call_control=_call_control(settings),
            )
            await ctx.start()
            stack.push_async_callback(ctx.stop)
            app.state.ctx = ctx
            console = await open_console(app, nc, settings)
            stack.push_async_callback(console.knowledge.aclose)
            yield

    app = FastAPI(
        title="Switchboard media gateway",
        version="0.1.0",
        summary="Twilio voice webhook and Media Streams bridge onto the Switchboard bus.",
        lifespan=lifespan,
    )

    async def bus_unavailable(request: Request, exc: Exception) -> JSONResponse:
        """A bus that is away is the dependency's failure, not a crash: 503, retry."""
        log.warning("%s %s: the bus is unavailable: %r", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "the bus is unavailable; try again"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    for unavailable in BUS_UNAVAILABLE:
        app.add_exception_handler(unavailable, bus_unavailable)

    app.include_router(voice.router)
    app.include_router(transfer.router)
    app.include_router(media.router)
    app.include_router(health.router)
    app.include_router(admin.router)
    app.include_router(
        make_calls_router(
            lambda: app.state.ctx.nc.jetstream(),
            lambda: settings.admin_token.get_secret_value(),
        )
    )
    include_console(app)
    app.openapi = tidy_openapi(app.openapi)  # type: ignore[method-assign]
    return app
