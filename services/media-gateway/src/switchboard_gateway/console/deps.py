"""The console's request dependencies: its shared state and the signed-in principal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from ..context import GatewayContext
from ..routes.deps import Context
from .auth import LoginStore, Principal, SessionSigner
from .knowledge_client import KnowledgeClient
from .live import LiveSnapshot
from .sessions import SessionStore
from .throttle import SignInThrottle
from .view import PREFIX

COOKIE = "sb_console"


@dataclass
class ConsoleState:
    logins: LoginStore
    sessions: SessionSigner
    open_sessions: SessionStore
    knowledge: KnowledgeClient
    throttle: SignInThrottle
    live: LiveSnapshot = field(default_factory=LiveSnapshot)


def _state(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


State = Annotated[ConsoleState, Depends(_state)]


class SignInRequired(Exception):
    """Raised by a page without a valid session; answered with a redirect to the sign-in."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


async def _principal(request: Request, state: State) -> Principal:
    cookie = request.cookies.get(COOKIE, "")
    principal = state.sessions.read(cookie) if cookie else None
    if principal is None or not await state.open_sessions.alive(
        principal.session_id, principal.login
    ):
        raise SignInRequired(request.url.path)
    if not principal.is_admin:
        # A login removed (or moved to another business) ends its sessions at once.
        stored = await state.logins.get(principal.login)
        if stored is None or stored.business_id != principal.business_id:
            raise SignInRequired(request.url.path)
    return principal


def _admin(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "platform admins only")
    return principal


SignedIn = Annotated[Principal, Depends(_principal)]
Admin = Annotated[Principal, Depends(_admin)]


def visible(principal: Principal, business_id: str) -> None:
    """404 (not 403: a business's login does not learn what other businesses exist)."""
    if not principal.can_see(business_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")


__all__ = ["PREFIX", "Context", "GatewayContext"]
