"""A fake media-gateway for the call simulator's tests: Twilio-signature checks, TwiML, and a
per-test scripted agent on the media stream. Starlette + uvicorn on a socket bound to
127.0.0.1:0 before serving, so the port is known with no startup race."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from twilio.request_validator import RequestValidator

TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC = "https://voice.example.com"
STREAM_URL = "wss://voice.example.com/twilio/media"
GOODBYE = "Thanks for calling. Goodbye."
TONE = bytes([0x10, 0x90]) * 80  # a loud μ-law frame (160 bytes), clearly not silence


def tone(ms: int) -> bytes:
    return TONE * (ms // 20)


def is_loud(msg: dict[str, Any]) -> bool:
    """An inbound media frame that carries caller speech (not 0xFF silence)."""
    if msg.get("event") != "media":
        return False
    return base64.b64decode(msg["media"]["payload"]) != b"\xff" * 160


@dataclass
class Inbound:
    at: float  # time.monotonic() on arrival
    msg: dict[str, Any]


class AgentSession:
    """The gateway side of one media stream, driven by a test's agent coroutine."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.inbound: list[Inbound] = []
        self.raw: list[str] = []
        self.stream_sid = ""
        self.start: dict[str, Any] = {}
        self.disconnected = False
        self.closed_by_agent = False

    async def recv(self, within: float = 10.0) -> Inbound:
        async with asyncio.timeout(within):
            text = await self.ws.receive_text()
        self.raw.append(text)
        try:
            msg = json.loads(text)
        except ValueError:
            msg = {"event": "<malformed>", "text": text}
        item = Inbound(time.monotonic(), msg)
        self.inbound.append(item)
        if msg.get("event") == "start":
            self.stream_sid = msg["streamSid"]
            self.start = msg
        return item

    async def recv_until(
        self, pred: Callable[[dict[str, Any]], bool], within: float = 10.0
    ) -> Inbound:
        async with asyncio.timeout(within):
            while True:
                item = await self.recv()
                if pred(item.msg):
                    return item

    async def wait_started(self) -> None:
        await self.recv_until(lambda m: m.get("event") == "start")

    async def frames(self, n: int) -> None:
        """Let ``n`` inbound media frames go by: the caller's own 20 ms clock as a timer."""
        for _ in range(n):
            await self.recv_until(lambda m: m.get("event") == "media")

    async def send(self, msg: dict[str, Any]) -> None:
        await self.ws.send_text(json.dumps(msg))

    async def send_media(self, ulaw: bytes, chunk: int = 160) -> None:
        for i in range(0, len(ulaw), chunk):
            payload = base64.b64encode(ulaw[i : i + chunk]).decode()
            await self.send(
                {"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}
            )

    async def send_mark(self, name: str) -> None:
        await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def send_clear(self) -> None:
        await self.send({"event": "clear", "streamSid": self.stream_sid})

    async def close(self, code: int = 1000) -> None:
        self.closed_by_agent = True
        await self.ws.close(code=code)

    async def speech_end(self) -> Inbound:
        """Wait for caller speech, then for the first silent frame after it."""
        await self.recv_until(lambda m: is_loud(m))
        return await self.recv_until(lambda m: m.get("event") == "media" and not is_loud(m))

    def events(self, name: str) -> list[Inbound]:
        return [i for i in self.inbound if i.msg.get("event") == name]


Agent = Callable[[AgentSession], Awaitable[None]]


@dataclass
class ActionRequest:
    """One request to the ``<Connect action>`` URL: how it came and whether it was signed."""

    method: str
    url: str  # the public URL it was signed for (with the query string)
    params: dict[str, str]  # the form (POST) or query (GET) params
    signature_ok: bool
    stream_was_closed: bool  # the media stream had ended when the action was requested


ACTION_PATH = "/twilio/connect-action"


@dataclass
class FakeGateway:
    url: str = ""
    agent: Agent | None = None
    twiml_after: str = f"<Say>{GOODBYE}</Say><Hangup/>"
    #: ``<Connect action>`` / ``method`` attributes (None: left out, Twilio's defaults apply).
    connect_action: str | None = None
    connect_method: str | None = None
    #: What the action URL (served at ACTION_PATH) answers once the signature checks out.
    action_status: int = 200
    action_twiml: str = "<Response><Hangup/></Response>"
    actions: list[ActionRequest] = field(default_factory=list)
    parameters: dict[str, str] = field(
        default_factory=lambda: {"call_id": "", "business_id": "biz-1"}
    )
    webhooks: list[tuple[dict[str, str], bool]] = field(default_factory=list)
    ws_signatures: list[bool] = field(default_factory=list)
    sessions: list[AgentSession] = field(default_factory=list)
    agent_errors: list[BaseException] = field(default_factory=list)
    agent_done: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Starlette:
        validator = RequestValidator(TOKEN)

        async def voice(request: Request) -> Response:
            form = {k: str(v) for k, v in (await request.form()).items()}
            ok = validator.validate(
                PUBLIC + "/twilio/voice", form, request.headers.get("x-twilio-signature", "")
            )
            self.webhooks.append((form, ok))
            if not ok:
                return Response("bad signature", status_code=403)
            params = {**self.parameters, "call_id": form["CallSid"]}
            ps = "".join(
                f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in params.items()
            )
            attrs = "".join(
                f" {name}={quoteattr(value)}"
                for name, value in (
                    ("action", self.connect_action),
                    ("method", self.connect_method),
                )
                if value is not None
            )
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect{attrs}>'
                f'<Stream url="{STREAM_URL}">{ps}</Stream></Connect>{self.twiml_after}</Response>'
            )
            return Response(body, media_type="application/xml")

        async def action(request: Request) -> Response:
            query = request.url.query
            public_url = PUBLIC + request.url.path + (f"?{query}" if query else "")
            if request.method == "POST":
                form = {k: str(v) for k, v in (await request.form()).items()}
                params = form
            else:  # GET: the params are in the signed query string
                form, params = {}, dict(request.query_params)
            ok = validator.validate(public_url, form, request.headers.get("x-twilio-signature", ""))
            closed = self.agent_done.is_set()
            self.actions.append(ActionRequest(request.method, public_url, params, ok, closed))
            if not ok:
                return Response("bad signature", status_code=403)
            return Response(
                self.action_twiml, status_code=self.action_status, media_type="application/xml"
            )

        async def media(ws: WebSocket) -> None:
            ok = validator.validate(STREAM_URL, {}, ws.headers.get("x-twilio-signature", ""))
            self.ws_signatures.append(ok)
            if not ok:
                await ws.close(code=1008)  # before accept: the upgrade is answered with 403
                return
            await ws.accept()
            session = AgentSession(ws)
            self.sessions.append(session)
            try:
                if self.agent is not None:
                    await self.agent(session)
                while not session.closed_by_agent:  # keep reading so the caller never blocks
                    await session.recv(within=120)
            except WebSocketDisconnect:
                session.disconnected = True
            except Exception as exc:  # surfaced by the test via agent_errors
                self.agent_errors.append(exc)
                with contextlib.suppress(Exception):
                    await ws.close(code=1011)
            finally:
                self.agent_done.set()

        return Starlette(
            routes=[
                Route("/twilio/voice", voice, methods=["POST"]),
                Route(ACTION_PATH, action, methods=["GET", "POST"]),
                WebSocketRoute("/twilio/media", media),
            ]
        )
