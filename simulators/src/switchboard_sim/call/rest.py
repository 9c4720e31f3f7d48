"""A stand-in for the part of Twilio's REST API a voice app uses on a live call.

``POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` with HTTP basic auth (the
account SID and auth token), form-encoded as Twilio documents it:

* ``Twiml=<Response>…</Response>``: the live call leaves what it is doing (our media stream
  gets a ``stop`` and is closed) and runs the new TwiML (e.g. ``<Dial>`` for a transfer);
* ``Status=completed``: the call hangs up.

Errors come back in Twilio's JSON shape (``code``, ``message``, ``more_info``, ``status``).
The gateway reaches it through the ``twilio`` package, pointed here by ``TWILIO_API_BASE_URL``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import parse_qs

from switchboard_common.serving import QuietServer, bind, server_config

from .twiml import TwimlError, Verb, parse_twiml

log = logging.getLogger(__name__)

_CALL_PATH = re.compile(
    r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Calls/(CA[0-9a-fA-F]{32})\.json$"
)


class LiveCall(Protocol):
    """What the stand-in needs from a simulated call."""

    async def redirect(self, verbs: list[Verb]) -> None: ...

    async def complete(self) -> None: ...


class TwilioRestStandIn:
    """Routes REST requests to the simulated calls registered with it (one server, any number
    of calls). ``requests`` keeps every accepted update, for tests."""

    def __init__(self, auth_token: str) -> None:
        self._auth_token = auth_token
        self._calls: dict[str, tuple[str, LiveCall]] = {}
        self.requests: list[dict[str, str]] = []
        self.url = ""
        self._server: QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    def register(self, account_sid: str, call_sid: str, call: LiveCall) -> None:
        self._calls[call_sid] = (account_sid, call)

    def unregister(self, call_sid: str) -> None:
        self._calls.pop(call_sid, None)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        sock, self.url = bind(host, port)
        config = server_config(self.app, lifespan="off", interface="asgi3")
        self._server = QuietServer(config, "")
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="twilio-rest")
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
            await asyncio.sleep(0.01)
        return self.url

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._task

    async def __aenter__(self) -> TwilioRestStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- ASGI --------------------------------------------------------------------------------

    async def app(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status, payload = await self._handle(scope["method"], scope["path"], headers, body)
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def _handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        match = _CALL_PATH.match(path)
        if match is None:
            return _error(404, 20404, f"The requested resource {path} was not found")
        account_sid, call_sid = match.groups()
        if not self._authorised(account_sid, headers.get("authorization", "")):
            return _error(401, 20003, "Authenticate")
        if method != "POST":
            return _error(405, 20004, "Method not allowed")
        found = self._calls.get(call_sid)
        if found is None or found[0] != account_sid:
            return _error(404, 20404, f"The requested resource {path} was not found")
        form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        call = found[1]
        if "Twiml" in form:
            try:
                verbs = parse_twiml(form["Twiml"])
            except TwimlError as exc:
                return _error(400, 21210, f"Twiml is invalid: {exc}")
            self.requests.append({"call_sid": call_sid, **form})
            await call.redirect(verbs)
            status = "in-progress"
        elif form.get("Status") == "completed":
            self.requests.append({"call_sid": call_sid, **form})
            await call.complete()
            status = "completed"
        else:
            return _error(400, 21205, "Url, Twiml or Status is required")
        return 200, {"sid": call_sid, "account_sid": account_sid, "status": status}

    def _authorised(self, account_sid: str, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == account_sid and secrets.compare_digest(password, self._auth_token)


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
