"""FastAPI dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from ..context import GatewayContext


def _context(conn: HTTPConnection) -> GatewayContext:
    ctx: GatewayContext = conn.app.state.ctx
    return ctx


def _request_context(request: Request) -> GatewayContext:
    return _context(request)


Context = Annotated[GatewayContext, Depends(_context)]
