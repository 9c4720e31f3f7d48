"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .deps import Context

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process serves requests")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: connected to the bus and taking calls",
    responses={503: {"description": "Draining, or off the bus: the same body, ready false"}},
)
async def readyz(ctx: Context, response: Response) -> dict[str, object]:
    ready = ctx.accepting and ctx.nc.is_connected
    if not ready:
        response.status_code = 503
    return {"ready": ready, "nats": ctx.nc.is_connected, "active_calls": len(ctx.sessions)}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
