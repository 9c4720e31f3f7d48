"""Health: the services, the agents and their free capacity, the bus, and what went wrong
in the last hour (calls that ended badly, tools that failed)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from switchboard_common.event_stream import EventStreamError

from ..routes.deps import Context
from .deps import Admin, State
from .history import errors_since
from .view import page

router = APIRouter()


@router.get("/health", response_class=HTMLResponse)
async def health(request: Request, ctx: Context, state: State, principal: Admin) -> HTMLResponse:
    now = time.monotonic()
    agents = [
        {
            "agent_id": agent_id,
            "alive": ctx.liveness.alive(agent_id),
            "active_calls": beat.active_calls,
            "capacity": beat.capacity,
            "free": beat.room,
            "draining": beat.draining,
            "last_beat_s": round(now - at, 1),
        }
        for agent_id, (beat, at) in sorted(ctx.agent_beats.items())
        if now - at < 300
    ]
    errors_note = ""
    try:
        errors = await errors_since(ctx.nc.jetstream(), datetime.now(UTC) - timedelta(hours=1))
    except (EventStreamError, TimeoutError) as exc:
        errors, errors_note = [], f"The call events cannot be read: {exc}"
    services = [
        {
            "name": f"gateway {ctx.settings.gateway_id}",
            "up": ctx.accepting and ctx.nc.is_connected,
            "detail": f"{len(ctx.sessions)} calls here" + ("" if ctx.accepting else ", draining"),
        },
        {
            "name": "knowledge",
            "up": await state.knowledge.ready(),
            "detail": ctx.settings.knowledge_url,
        },
        {
            "name": "agents",
            "up": any(a["alive"] for a in agents),
            "detail": f"{sum(1 for a in agents if a['alive'])} alive",
        },
    ]
    nats = {
        "connected": ctx.nc.is_connected,
        "server": str(ctx.nc.connected_url.netloc if ctx.nc.connected_url else ""),
        "reconnects": ctx.nc.stats.get("reconnects", 0),
    }
    return page(
        request,
        "health.html",
        principal,
        services=services,
        agents=agents,
        nats=nats,
        errors=errors,
        errors_note=errors_note,
    )
