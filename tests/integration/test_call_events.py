"""The durable call-event stream on a real nats-server (JetStream): the stream's settings,
publishing with de-duplication, replay in order, live tailing, the HTTP router and the CLI."""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import nats
import pytest
from fastapi import FastAPI
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType

from switchboard_common.cli import events as events_cli
from switchboard_common.event_stream import (
    CallEventPublisher,
    EventStreamSettings,
    ensure_stream,
    follow,
    last_seq,
    read_call,
)
from switchboard_common.events import (
    ALL_EVENTS,
    MSG_ID_HEADER,
    STREAM_NAME,
    AgentTurnEvent,
    AnyCallEvent,
    CallEndedEvent,
    CallerTurnEvent,
    TokenUsage,
    business_events,
    call_events,
    msg_id,
)
from switchboard_gateway.routes.calls import make_calls_router
from switchboard_sim.stack import LocalStack

pytestmark = pytest.mark.timeout(60)

RETENTION_S = 3600.0
TOKEN = "events-test-token"
#: Bound on anything a test waits for.
WAIT_S = 10.0
_ids = itertools.count(1)


def new_call() -> str:
    return f"CAevt{next(_ids):04d}"


@dataclass
class Bus:
    url: str
    nc: Client
    js: JetStreamContext


@pytest.fixture(scope="module")
async def bus() -> AsyncIterator[Bus]:
    async with LocalStack() as stack:
        url = await stack.start_nats()
        nc = await nats.connect(url)
        js = nc.jetstream()
        await ensure_stream(js, RETENTION_S)
        try:
            yield Bus(url, nc, js)
        finally:
            await nc.close()


async def publish_call(js: JetStreamContext, business: str, call: str) -> CallEventPublisher:
    """A short call: start, two turns (one interrupted), a tool, a key, the end."""
    pub = CallEventPublisher(js, business, call)
    pub.call_started(agent_id="agent-1", gateway_id="gw-1", from_number="+1555", to_number="+1666")
    pub.agent_turn("Hello, Bistro here.", "i0", produced_ms=1500, played_ms=1500)
    pub.caller_turn("Are you open on Sunday?", "i1")
    pub.agent_turn("Yes, from noon until", "i2", interrupted=True, played_ms=900, produced_ms=3000)
    pub.tool_called("take_message", '{"message":"hi"}', ok=True, output="taken", latency_ms=4.2)
    pub.dtmf("1")
    pub.call_ended(
        duration_s=12.5,
        caller_turns=1,
        agent_turns=2,
        reason="caller_hung_up",
        usage=TokenUsage(input_tokens=100, output_tokens=20, total_tokens=120),
    )
    await pub.aclose(timeout_s=WAIT_S)
    assert (pub.published, pub.failed, pub.dropped) == (7, 0, 0)
    return pub


async def stored_count(js: JetStreamContext, call: str) -> int:
    info = await js.stream_info(STREAM_NAME, subjects_filter=call_events(call))
    return sum((info.state.subjects or {}).values())


# --- the stream ----------------------------------------------------------------------------


async def test_stream_has_the_configured_retention_storage_and_window(bus: Bus) -> None:
    info = await bus.js.stream_info(STREAM_NAME)
    assert info.config.subjects == [ALL_EVENTS]
    assert info.config.storage == StorageType.FILE
    assert info.config.max_age == pytest.approx(RETENTION_S)
    assert info.config.duplicate_window == pytest.approx(120.0)
    assert info.config.num_replicas == 1


async def test_ensure_stream_is_idempotent_and_applies_a_new_retention(bus: Bus) -> None:
    call = new_call()
    await publish_call(bus.js, "acme", call)
    before = await bus.js.stream_info(STREAM_NAME)
    again = await ensure_stream(bus.js, RETENTION_S)
    assert again.config.max_age == pytest.approx(RETENTION_S)
    assert again.state.messages == before.state.messages  # nothing lost or recreated
    # An operator's own limit survives an update of ours.
    await bus.js.update_stream(again.config.evolve(max_bytes=64 * 1024 * 1024))
    settings = EventStreamSettings(retention_s=7200, duplicate_window_s=30)
    changed = await ensure_stream(bus.js, settings.retention_s, 1, settings.duplicate_window_s)
    assert changed.config.max_age == pytest.approx(7200)
    assert changed.config.duplicate_window == pytest.approx(30)
    assert changed.config.max_bytes == 64 * 1024 * 1024
    assert await stored_count(bus.js, call) == 7
    # back to the module's setting for the other tests
    restored = await ensure_stream(bus.js, RETENTION_S)
    assert restored.config.max_age == pytest.approx(RETENTION_S)
    assert restored.config.duplicate_window == pytest.approx(120.0)


async def test_retention_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTS_RETENTION_S", "86400")
    monkeypatch.setenv("EVENTS_REPLICAS", "1")
    settings = EventStreamSettings()
    assert (settings.retention_s, settings.replicas) == (86400, 1)
    assert settings.duplicate_window_s == 120


# --- publishing and replay -----------------------------------------------------------------


async def test_a_call_is_replayed_in_order_and_a_duplicate_is_stored_once(bus: Bus) -> None:
    call = new_call()
    await publish_call(bus.js, "acme", call)
    events = await read_call(bus.js, call, timeout_s=WAIT_S)
    assert [e.seq for e in events] == list(range(1, 8))
    assert [e.type for e in events] == [
        "call_started", "agent_turn", "caller_turn", "agent_turn", "tool_called", "dtmf",
        "call_ended",
    ]  # fmt: skip
    assert all(e.call_id == call and e.business_id == "acme" for e in events)
    interrupted = events[3]
    assert isinstance(interrupted, AgentTurnEvent)
    assert (interrupted.interrupted, interrupted.played_ms, interrupted.produced_ms) == (
        True,
        900,
        3000,
    )
    ended = events[-1]
    assert isinstance(ended, CallEndedEvent) and ended.usage is not None
    assert ended.usage.total_tokens == 120

    # A retry of event 3 (same Nats-Msg-Id, as after a lost ack) is not stored again.
    third = events[2]
    ack = await bus.js.publish(
        third.subject,
        third.to_bytes(),
        stream=STREAM_NAME,
        headers={MSG_ID_HEADER: msg_id(call, third.seq)},
    )
    assert ack.duplicate
    assert await stored_count(bus.js, call) == 7
    again = await read_call(bus.js, call, timeout_s=WAIT_S)
    assert [e.seq for e in again] == list(range(1, 8))


async def test_an_unknown_call_reads_as_empty(bus: Bus) -> None:
    assert await read_call(bus.js, "CAnever", timeout_s=WAIT_S) == []
    with pytest.raises(ValueError, match="subject token"):
        await read_call(bus.js, "CA.*", timeout_s=WAIT_S)


async def test_calls_and_businesses_do_not_mix(bus: Bus) -> None:
    mine, theirs = new_call(), new_call()
    await publish_call(bus.js, "acme", mine)
    await publish_call(bus.js, "globex", theirs)
    assert {e.business_id for e in await read_call(bus.js, theirs)} == {"globex"}
    assert {e.call_id for e in await read_call(bus.js, mine)} == {mine}


async def test_a_taken_over_call_continues_its_numbering(bus: Bus) -> None:
    call = new_call()
    await publish_call(bus.js, "acme", call)
    assert await last_seq(bus.js, call) == 7
    assert await last_seq(bus.js, "CAnothing") == 0
    pub = await CallEventPublisher.resume(bus.js, "acme", call)
    pub.caller_turn("still there?")
    await pub.aclose(timeout_s=WAIT_S)
    events = await read_call(bus.js, call)
    assert [e.seq for e in events] == list(range(1, 9))
    assert isinstance(events[-1], CallerTurnEvent)


async def test_unreadable_messages_in_the_stream_are_skipped(bus: Bus) -> None:
    call = new_call()
    pub = CallEventPublisher(bus.js, "acme", call)
    pub.caller_turn("before")
    await pub.flush(WAIT_S)
    await bus.js.publish(f"sb.events.acme.{call}.sentiment", b'{"v":1,"type":"sentiment"}')
    pub.caller_turn("after")
    await pub.aclose(timeout_s=WAIT_S)
    events = await read_call(bus.js, call)
    assert [(e.seq, e.type) for e in events] == [(1, "caller_turn"), (2, "caller_turn")]


# --- live ----------------------------------------------------------------------------------


async def test_follow_tails_a_business_live(bus: Bus) -> None:
    mine, other = new_call(), new_call()
    received: list[AnyCallEvent] = []
    async with follow(bus.js, business_events("tailco")) as events:
        await publish_call(bus.js, "elsewhere", other)  # not this business
        await publish_call(bus.js, "tailco", mine)
        async with asyncio.timeout(WAIT_S):
            async for event in events:
                received.append(event)
                if event.type == "call_ended":
                    break
    assert [(e.call_id, e.seq) for e in received] == [(mine, n) for n in range(1, 8)]


async def test_follow_one_call_from_the_start(bus: Bus) -> None:
    call = new_call()
    await publish_call(bus.js, "acme", call)
    async with follow(bus.js, call_events(call), from_start=True) as events:
        async with asyncio.timeout(WAIT_S):
            seqs = [e.seq async for e in _take(events, 7)]
    assert seqs == list(range(1, 8))


async def _take(events: AsyncIterator[AnyCallEvent], n: int) -> AsyncIterator[AnyCallEvent]:
    async for event in events:
        yield event
        n -= 1
        if n == 0:
            return


# --- HTTP ----------------------------------------------------------------------------------


@pytest.fixture
async def api(bus: Bus) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    token = {"value": TOKEN}
    app.include_router(make_calls_router(lambda: bus.js, lambda: token["value"]))
    app.state.token = token
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_http_events_and_transcript(bus: Bus, api: httpx.AsyncClient) -> None:
    call = new_call()
    await publish_call(bus.js, "acme", call)
    response = await api.get(f"/calls/{call}/events", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert (body["call_id"], body["business_id"]) == (call, "acme")
    assert [e["seq"] for e in body["events"]] == list(range(1, 8))
    assert body["events"][0]["type"] == "call_started"
    assert body["events"][-1]["usage"]["total_tokens"] == 120

    response = await api.get(f"/calls/{call}/transcript", headers=AUTH)
    assert response.status_code == 200
    transcript = response.json()
    assert transcript["lines"] == [
        "agent: Hello, Bistro here.",
        "caller: Are you open on Sunday?",
        "agent: Yes, from noon until [interrupted at 900 of 3000 ms]",
        'tool take_message({"message":"hi"}) ok in 4 ms: taken',
    ]
    assert [e["speaker"] for e in transcript["entries"]] == ["agent", "caller", "agent", "tool"]

    text = await api.get(f"/calls/{call}/transcript", params={"format": "text"}, headers=AUTH)
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.splitlines() == transcript["lines"]


async def test_http_needs_the_token(bus: Bus, api: httpx.AsyncClient) -> None:
    call = new_call()
    await publish_call(bus.js, "acme", call)
    for path in (f"/calls/{call}/events", f"/calls/{call}/transcript"):
        missing = await api.get(path)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = await api.get(path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert (await api.get(path, headers=AUTH)).status_code == 200


async def test_http_without_a_configured_token_serves_nothing(api: httpx.AsyncClient) -> None:
    transport = api._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    app.state.token["value"] = ""
    response = await api.get("/calls/CAx/events", headers={"Authorization": "Bearer "})
    assert response.status_code == 503


async def test_http_unknown_call_is_404(api: httpx.AsyncClient) -> None:
    for call in ("CAnever", "not.a.call", "*"):
        for kind in ("events", "transcript"):
            response = await api.get(f"/calls/{call}/{kind}", headers=AUTH)
            assert response.status_code == 404, (call, kind)


# --- CLI -----------------------------------------------------------------------------------


def cli_args(bus: Bus, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    events_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["events", "--nats-url", bus.url, *argv])


async def test_cli_show_replays_a_call(bus: Bus) -> None:
    call = new_call()
    await publish_call(bus.js, "acme", call)
    out = io.StringIO()
    assert await events_cli.show(cli_args(bus, "show", call), out) == events_cli.OK
    lines = out.getvalue().splitlines()
    assert len(lines) == 7
    assert f"acme/{call} #1 call_started" in lines[0]
    assert f"acme/{call} #7 call_ended caller_hung_up" in lines[6]

    out = io.StringIO()
    assert await events_cli.show(cli_args(bus, "show", call, "--json"), out) == events_cli.OK
    assert [json.loads(line)["seq"] for line in out.getvalue().splitlines()] == list(range(1, 8))

    missing = cli_args(bus, "show", "CAnever")
    assert await events_cli.show(missing, io.StringIO()) == events_cli.NOT_FOUND
    assert missing.handler is events_cli.run


async def test_cli_tail_prints_one_line_per_event(bus: Bus) -> None:
    call = new_call()
    await publish_call(bus.js, "tailcli", call)
    out = io.StringIO()
    args = cli_args(bus, "tail", "--business", "tailcli", "--from-start", "--count", "7")
    async with asyncio.timeout(WAIT_S):
        assert await events_cli.tail(args, out) == events_cli.OK
    lines = out.getvalue().splitlines()
    assert [line.split(" #")[1].split()[0] for line in lines] == [str(n) for n in range(1, 8)]
    assert all(f"tailcli/{call}" in line for line in lines)


async def test_cli_entry_point_runs_the_events_group(bus: Bus) -> None:
    call = new_call()
    await publish_call(bus.js, "acme", call)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard_common.cli",
        "events",
        "--nats-url",
        bus.url,
        "show",
        call,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(30):
            stdout, stderr = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, stderr.decode()
    assert len(stdout.decode().splitlines()) == 7
