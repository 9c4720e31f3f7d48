"""Websocket + introspection transport for the Realtime simulator.

One ``websockets`` server on 127.0.0.1 serves the SDK's ``/v1/realtime``
websocket and, via the ``process_request`` hook, plain HTTP under ``/v1/_sim/``:

* ``GET /v1/_sim/sessions``            all sessions (see ``SessionRecord.snapshot``)
* ``GET /v1/_sim/sessions/{id}``       one session
* ``GET /v1/_sim/sessions/{id}/drop``  abort that connection (simulated network loss)
* ``GET /v1/_sim/health``              liveness
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .script import Script
from .session import RealtimeSession, SimConfig
from .voice import VoiceSynth

log = logging.getLogger(__name__)

REALTIME_PATH = "/v1/realtime"
SIM_PREFIX = "/v1/_sim/"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
CLOSE_EXPIRED = 1000


class RealtimeSimulator:
    """In-process simulator: ``async with RealtimeSimulator() as sim: sim.base_url``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        script: Script | Mapping[str, Any] | str | Path | None = None,
        echo: bool = False,
        speed: float = 4.0,
        chunk_ms: int = 50,
        max_session_s: float | None = None,
        voice: VoiceSynth | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.script = Script.load(script)
        self.config = SimConfig(
            speed=speed, chunk_ms=chunk_ms, echo=echo, max_session_s=max_session_s
        )
        self.voice = voice or VoiceSynth()
        self.sessions: dict[str, RealtimeSession] = {}
        self._connections: dict[str, ServerConnection] = {}
        self._ids = itertools.count(1)
        self._server: Server | None = None

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
            logger=log,
        )
        sock = next(iter(self._server.sockets))
        self.port = int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> RealtimeSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        assert self._server is not None, "call start() first"
        await self._server.serve_forever()

    @property
    def base_url(self) -> str:
        """What to pass as ``AsyncOpenAI(base_url=...)``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{REALTIME_PATH}"

    # -- introspection / control hooks -----------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        return [s.record.snapshot() for s in self.sessions.values()]

    def session_record(self, session_id: str) -> dict[str, Any] | None:
        session = self.sessions.get(session_id)
        return session.record.snapshot() if session else None

    async def wait_ended(self, session_id: str) -> None:
        """Wait until the server has finished with a session (its socket is gone)."""
        await self.sessions[session_id].ended.wait()

    def drop(self, session_id: str) -> bool:
        """Abort a connection without a close frame, like a network failure."""
        conn = self._connections.get(session_id)
        if conn is None:
            return False
        conn.transport.abort()
        return True

    # -- transport -------------------------------------------------------------------
    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path.rstrip("/")
        if path == REALTIME_PATH:
            if not request.headers.get("Authorization", "").startswith("Bearer "):
                return _json(
                    conn,
                    http.HTTPStatus.UNAUTHORIZED,
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "code": "invalid_api_key",
                            "message": "Missing bearer authentication.",
                            "param": None,
                        }
                    },
                )
            return None
        if not path.startswith(SIM_PREFIX.rstrip("/")):
            return _json(conn, http.HTTPStatus.NOT_FOUND, {"error": f"no route {path}"})
        parts = path.removeprefix(SIM_PREFIX).split("/")
        if parts == ["health"]:
            return _json(conn, http.HTTPStatus.OK, {"ok": True, "sessions": len(self.sessions)})
        if parts == ["sessions"]:
            return _json(conn, http.HTTPStatus.OK, self.snapshot())
        if len(parts) == 2 and parts[0] == "sessions":
            record = self.session_record(parts[1])
            if record is not None:
                return _json(conn, http.HTTPStatus.OK, record)
        is_drop = len(parts) == 3 and parts[0] == "sessions" and parts[2] == "drop"
        if is_drop and self.drop(parts[1]):
            return _json(conn, http.HTTPStatus.OK, {"dropped": parts[1]})
        return _json(conn, http.HTTPStatus.NOT_FOUND, {"error": f"no route {path}"})

    async def _handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        query = parse_qs(urlsplit(conn.request.path).query)
        model = (query.get("model") or ["gpt-realtime"])[0]
        session_id = f"sess_{next(self._ids):04d}"
        session = RealtimeSession(
            session_id=session_id,
            model=model,
            send=conn.send,
            script=self.script,
            voice=self.voice,
            config=self.config,
        )
        self.sessions[session_id] = session
        self._connections[session_id] = conn
        try:
            async with asyncio.timeout(self.config.max_session_s):
                await session.start()
                async for message in conn:
                    await session.handle(message)
        except TimeoutError:
            with contextlib.suppress(ConnectionClosed):
                await session.expire()
                await conn.close(CLOSE_EXPIRED, "session expired")
        except ConnectionClosed:
            pass
        finally:
            self._connections.pop(session_id, None)
            await session.close()


def _json(conn: ServerConnection, status: http.HTTPStatus, body: Any) -> Response:
    response = conn.respond(status, "")
    payload = json.dumps(body).encode()
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("Connection", "close"),
        ]
    )
    return Response(response.status_code, response.reason_phrase, headers, payload)
