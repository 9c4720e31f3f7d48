"""Mounting the console on the gateway's app: its routers, static files, sign-in redirects."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from nats.aio.client import Client
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..settings import GatewaySettings
from . import business_pages, calls_pages, health_page, knowledge_pages
from .auth import LoginStore, SessionSigner, authenticate
from .deps import COOKIE, ConsoleState, SignInRequired, State
from .knowledge_client import KnowledgeClient
from .sessions import SessionStore
from .throttle import SignInThrottle
from .view import PREFIX, STATIC_DIR, page

auth_router = APIRouter()


def _safe_next(next_path: str) -> str:
    """Only a path inside the console: never an open redirect."""
    if next_path.startswith(PREFIX + "/") and not next_path.startswith("//"):
        return next_path
    return f"{PREFIX}/calls"


@auth_router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/calls", status_code=303)


@auth_router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "") -> HTMLResponse:
    return page(request, "login.html", None, next=_safe_next(next), error=None)


@auth_router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    state: State,
    login: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    settings: GatewaySettings = request.app.state.ctx.settings
    login = login.strip()
    if await state.throttle.blocked(login):
        return page(
            request,
            "login.html",
            None,
            status_code=429,
            next=_safe_next(next),
            error="Too many failed attempts for this login: wait a few minutes.",
            login=login,
        )
    principal = await authenticate(
        state.logins, settings.admin_token.get_secret_value(), login, password
    )
    if principal is None:
        await state.throttle.failed(login)
        return page(
            request,
            "login.html",
            None,
            status_code=401,
            next=_safe_next(next),
            error="That login and password do not match.",
            login=login,
        )
    await state.throttle.succeeded(login)
    response = RedirectResponse(_safe_next(next), status_code=303)
    session_id = await state.open_sessions.start(principal.login)
    response.set_cookie(
        COOKIE,
        state.sessions.issue(dataclasses.replace(principal, session_id=session_id)),
        max_age=int(state.sessions.ttl_s),
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@auth_router.post("/logout")
async def logout(request: Request, state: State) -> RedirectResponse:
    """Ends the session on every gateway (a copy of the cookie stops working too)."""
    principal = state.sessions.read(request.cookies.get(COOKIE, ""))
    if principal is not None:
        await state.open_sessions.end(principal.session_id)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


def _session_key(settings: GatewaySettings) -> bytes:
    explicit = settings.console_session_secret.get_secret_value()
    if explicit:
        return explicit.encode()
    token = settings.admin_token.get_secret_value()
    if not token:
        return secrets.token_bytes(32)
    return hmac.new(token.encode(), b"switchboard console sessions v1", hashlib.sha256).digest()


def console_state(
    settings: GatewaySettings,
    logins: LoginStore,
    open_sessions: SessionStore,
    throttle: SignInThrottle,
) -> ConsoleState:
    return ConsoleState(
        logins=logins,
        sessions=SessionSigner(_session_key(settings), settings.console_session_ttl_s),
        open_sessions=open_sessions,
        knowledge=KnowledgeClient(
            settings.knowledge_url, settings.knowledge_token.get_secret_value()
        ),
        throttle=throttle,
    )


async def open_console(app: FastAPI, nc: Client, settings: GatewaySettings) -> ConsoleState:
    open_sessions = await SessionStore.open(nc, settings.console_session_ttl_s)
    throttle = await SignInThrottle.open(nc)
    state = console_state(settings, await LoginStore.open(nc), open_sessions, throttle)
    app.state.console = state
    return state


def include_console(app: FastAPI) -> None:
    async def sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        if request.headers.get("accept", "").startswith("text/event-stream"):
            return Response(status_code=401)
        return RedirectResponse(f"{PREFIX}/login?next={quote(exc.next_path)}", status_code=303)

    async def console_error(request: Request, exc: Exception) -> Response:
        """Console pages answer errors as pages; the APIs keep their JSON problems."""
        assert isinstance(exc, StarletteHTTPException)
        if not request.url.path.startswith(PREFIX + "/") or exc.status_code < 400:
            return await http_exception_handler(request, exc)
        state: ConsoleState | None = getattr(request.app.state, "console", None)
        cookie = request.cookies.get(COOKIE, "")
        principal = state.sessions.read(cookie) if state is not None and cookie else None
        titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 503: "Unavailable"}
        return page(
            request,
            "error.html",
            principal,
            status_code=exc.status_code,
            title=titles.get(exc.status_code, "Something went wrong"),
            detail=str(exc.detail),
        )

    app.add_exception_handler(SignInRequired, sign_in)
    app.add_exception_handler(StarletteHTTPException, console_error)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    for module_router in (
        auth_router,
        calls_pages.router,
        business_pages.router,
        knowledge_pages.router,
        health_page.router,
    ):
        app.include_router(module_router, prefix=PREFIX, include_in_schema=False)
