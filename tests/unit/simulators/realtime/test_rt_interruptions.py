"""Errors, truncation, cancellation and barge-in, through the official SDK."""

from __future__ import annotations

import base64
import json

import httpx

from switchboard_sim.realtime import RealtimeSimulator

from .realtime_sim_helpers import (
    configure,
    connect,
    send_audio,
    tone_ulaw,
    utterance,
)

LONG_REPLY = (
    "Our opening hours are nine in the morning to five in the evening on weekdays, "
    "ten to two on Saturdays, and we are closed on Sundays and public holidays."
)
SCRIPT = {"turns": [{"caller": "When are you open?", "agent": LONG_REPLY}]}
GREETING = {"instructions": 'Say exactly: "Thanks for calling Acme, how can I help?"'}


async def test_invalid_events_get_error_events_and_connection_survives() -> None:
    async with RealtimeSimulator() as sim, connect(sim) as (conn, events):
        await conn.send_raw("{not json")
        bad_json = await events.wait_for("error")
        assert bad_json.error.type == "invalid_request_error"
        assert bad_json.error.code == "invalid_json"

        await conn.send_raw(json.dumps({"type": "no.such.event", "event_id": "evt_1"}))
        unknown = await events.wait_for("error")
        assert unknown.error.code == "invalid_value"
        assert unknown.error.param == "type"
        assert unknown.error.event_id == "evt_1"

        await conn.send_raw(json.dumps({"type": "conversation.item.truncate", "item_id": "x"}))
        missing = await events.wait_for("error")
        assert missing.error.code == "missing_required_parameter"
        assert missing.error.param in {"audio_end_ms", "content_index"}

        await conn.send_raw(json.dumps({"type": "input_audio_buffer.append", "audio": "@@@"}))
        bad_audio = await events.wait_for("error")
        assert bad_audio.error.param == "audio"

        # Still alive and serving.
        await conn.session.update(session={"type": "realtime", "instructions": "still here"})
        updated = await events.wait_for("session.updated")
        assert updated.session.instructions == "still here"

        record = sim.snapshot()[0]
        assert [e["code"] for e in record["errors_sent"]] == [
            "invalid_json",
            "invalid_value",
            "missing_required_parameter",
            "invalid_value",
        ]
        assert record["control_events"][0]["invalid"] is True


async def test_truncate_rules_match_the_api() -> None:
    async with RealtimeSimulator(speed=0) as sim, connect(sim) as (conn, events):
        await configure(conn, events)
        await conn.response.create(response=GREETING)
        done = await events.wait_for("response.done")
        item_id = done.response.output[0].id
        produced_ms = sum(
            len(base64.b64decode(e.delta)) // 8 for e in events.of("response.output_audio.delta")
        )  # 8 bytes per ms of 8 kHz μ-law
        assert produced_ms > 1000

        await conn.conversation.item.truncate(
            item_id=item_id, content_index=0, audio_end_ms=produced_ms + 1
        )
        too_far = await events.wait_for("error")
        assert too_far.error.param == "audio_end_ms"
        assert f"{produced_ms}ms" in too_far.error.message

        await conn.conversation.item.truncate(item_id="item_nope", content_index=0, audio_end_ms=0)
        unknown = await events.wait_for("error")
        assert unknown.error.param == "item_id"

        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=700)
        truncated = await events.wait_for("conversation.item.truncated")
        assert (truncated.item_id, truncated.audio_end_ms) == (item_id, 700)

        async with httpx.AsyncClient() as http:
            sessions = (await http.get(f"{sim.base_url}/_sim/sessions")).json()
        truncates = [
            e for e in sessions[0]["control_events"] if e["type"] == "conversation.item.truncate"
        ]
        assert [(t["item_id"], t["audio_end_ms"]) for t in truncates] == [
            (item_id, produced_ms + 1),
            ("item_nope", 0),
            (item_id, 700),
        ]
        assert sessions[0]["truncations"] == [{"item_id": item_id, "audio_end_ms": 700}]


async def test_user_audio_items_cannot_be_truncated() -> None:
    async with RealtimeSimulator(speed=0) as sim, connect(sim) as (conn, events):
        await configure(conn, events)
        await send_audio(conn, utterance())
        committed = await events.wait_for("input_audio_buffer.committed")
        await events.wait_for("response.done")
        await conn.conversation.item.truncate(
            item_id=committed.item_id, content_index=0, audio_end_ms=0
        )
        err = await events.wait_for("error")
        assert err.error.code == "unsupported_content_type"


async def test_cancel_without_active_response_is_an_error() -> None:
    async with RealtimeSimulator() as sim, connect(sim) as (conn, events):
        await conn.response.cancel()
        err = await events.wait_for("error")
        assert err.error.code == "response_cancel_not_active"


async def test_client_cancel_stops_audio_mid_response() -> None:
    script = {"turns": [], "default_reply": LONG_REPLY}
    async with RealtimeSimulator(script=script, speed=1.0) as sim, connect(sim) as (conn, events):
        await configure(conn, events)
        await conn.response.create()
        created = await events.wait_for("response.created")
        await events.wait_for("response.output_audio.delta")
        await conn.response.cancel()
        done = await events.wait_for("response.done")
        assert done.response.id == created.response.id
        assert done.response.status == "cancelled"
        assert done.response.status_details.reason == "client_cancelled"
        assert done.response.output[0].status == "incomplete"
        # ~195 chunks for the whole reply at 50 ms each; a cancel lands long before that.
        assert len(events.of("response.output_audio.delta")) < 60
        assert sim.snapshot()[0]["responses"][0]["status"] == "cancelled"


async def test_barge_in_cancels_in_flight_response_then_truncate() -> None:
    async with (
        RealtimeSimulator(script=SCRIPT, speed=1.0) as sim,
        connect(sim) as (conn, events),
    ):
        await configure(conn, events)
        await send_audio(conn, utterance())
        await events.wait_for("response.created")
        first = await events.wait_for("response.output_audio.delta")

        await send_audio(conn, tone_ulaw(200))  # the caller talks over the agent
        barge = await events.wait_for("input_audio_buffer.speech_started")
        done = await events.wait_for("response.done")
        assert done.response.status == "cancelled"
        assert done.response.status_details.reason == "turn_detected"
        item = done.response.output[0]
        assert item.id == first.item_id and item.status == "incomplete"
        assert events.types().index("input_audio_buffer.speech_started") < events.types().index(
            "response.done"
        )
        assert item.content[0].transcript != LONG_REPLY  # only part of it was spoken
        assert barge.item_id != first.item_id

        produced_ms = sum(
            len(base64.b64decode(e.delta)) // 8
            for e in events.of("response.output_audio.delta")
            if e.item_id == first.item_id
        )
        await conn.conversation.item.truncate(
            item_id=first.item_id, content_index=0, audio_end_ms=produced_ms
        )
        truncated = await events.wait_for("conversation.item.truncated")
        assert truncated.audio_end_ms == produced_ms


async def test_second_response_while_active_is_rejected() -> None:
    script = {"turns": [], "default_reply": LONG_REPLY}
    async with RealtimeSimulator(script=script, speed=1.0) as sim, connect(sim) as (conn, events):
        await conn.response.create()
        await events.wait_for("response.created")
        await conn.response.create()
        err = await events.wait_for("error")
        assert err.error.code == "conversation_already_has_active_response"
        await conn.response.cancel()
        await events.wait_for("response.done")
