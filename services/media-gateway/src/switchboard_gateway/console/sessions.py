"""The console's open sessions, kept on the bus.

Why: a signed cookie alone cannot be taken back. Signing out must end the session everywhere
(a copied or stolen cookie stops working at once, on every gateway replica), so each session
also has an entry in the KV bucket ``sb_console_sessions``, keyed by a random id the cookie
carries. A request is signed in only while its entry exists; the bucket's TTL, the session's
lifetime, removes entries nobody closed.
"""

from __future__ import annotations

import logging
import secrets

from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from switchboard_common import subjects
from switchboard_common.buckets import open_bucket
from switchboard_common.ids import TOKEN_RE

log = logging.getLogger(__name__)


class SessionStore:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, nc: Client, ttl_s: float) -> SessionStore:
        return cls(await open_bucket(nc, subjects.CONSOLE_SESSIONS_BUCKET, ttl_s))

    async def start(self, login: str) -> str:
        """A new session of ``login``; returns its id."""
        session_id = secrets.token_urlsafe(24)
        await self._kv.put(session_id, login.encode())
        return session_id

    async def alive(self, session_id: str, login: str) -> bool:
        """Whether ``session_id`` is open, and is ``login``'s."""
        if not TOKEN_RE.fullmatch(session_id):
            return False
        try:
            entry = await self._kv.get(session_id)
        except KeyNotFoundError:  # also raised for a deleted key
            return False
        return entry.value == login.encode()

    async def end(self, session_id: str) -> None:
        if not TOKEN_RE.fullmatch(session_id):
            return
        try:
            await self._kv.purge(session_id)
        except Exception as exc:  # signing out still clears the cookie
            log.warning("could not end a console session: %s", exc)
