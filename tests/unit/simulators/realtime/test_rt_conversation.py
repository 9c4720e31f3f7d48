"""Conversation flows of the Realtime simulator, driven through the official SDK."""

from __future__ import annotations

import base64
import json
from typing import Any

from switchboard_sim.realtime import RealtimeSimulator

from .realtime_sim_helpers import (
    BOOK_TABLE_TOOL,
    PCMU_SESSION,
    configure,
    connect,
    send_audio,
    silence_ulaw,
    tone_ulaw,
    utterance,
)

SCRIPT: dict[str, Any] = {
    "turns": [
        {"caller": "What are your opening hours?", "agent": "We are open nine to five."},
        {
            "caller": "Book a table for two at seven.",
            "tool": {"name": "book_table", "arguments": {"party_size": 2, "time": "19:00"}},
            "agent_after_tool": "Done: {output}",
        },
    ]
}

RESPONSE_SEQUENCE = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
]


async def test_session_update_merges_and_answers_updated() -> None:
    async with RealtimeSimulator() as sim, connect(sim) as (conn, events):
        updated = await configure(conn, events, tools=[BOOK_TABLE_TOOL])
        s = updated.session
        assert s.audio.input.format.type == "audio/pcmu"
        assert s.audio.output.format.type == "audio/pcmu"
        assert s.audio.input.turn_detection.silence_duration_ms == 300
        assert s.audio.input.transcription.model == "gpt-4o-transcribe"
        assert s.instructions == "You are the Acme phone agent."
        assert [t.name for t in s.tools] == ["book_table"]

        # A partial update changes only what it names.
        await conn.session.update(session={"type": "realtime", "instructions": "Be brief."})
        again = (await events.wait_for("session.updated")).session
        assert again.instructions == "Be brief."
        assert again.audio.output.voice == "marin"
        assert again.audio.input.format.type == "audio/pcmu"
        assert [t.name for t in again.tools] == ["book_table"]


async def test_vad_turn_transcribes_and_answers_with_pcmu_audio() -> None:
    async with RealtimeSimulator(script=SCRIPT) as sim, connect(sim) as (conn, events):
        await configure(conn, events)
        await send_audio(conn, silence_ulaw(400) + utterance(speech_ms=600, silence_ms=500))

        started = await events.wait_for("input_audio_buffer.speech_started")
        assert started.audio_start_ms == 400 - 200  # speech onset minus prefix padding
        stopped = await events.wait_for("input_audio_buffer.speech_stopped")
        assert stopped.item_id == started.item_id
        assert stopped.audio_end_ms == 400 + 600 + 300  # after silence_duration_ms of quiet
        committed = await events.wait_for("input_audio_buffer.committed")
        assert committed.item_id == started.item_id
        user_item = await events.wait_for("conversation.item.added")
        assert user_item.item.role == "user" and user_item.item.id == started.item_id
        transcript = await events.wait_for("conversation.item.input_audio_transcription.completed")
        assert transcript.transcript == "What are your opening hours?"
        done = await events.wait_for("response.done")

        assert done.response.status == "completed"
        assert done.response.usage is not None and done.response.usage.total_tokens
        types = events.types()
        assert types[types.index("response.created") :] == RESPONSE_SEQUENCE
        spoken = events.of("response.output_audio_transcript.done")[0].transcript
        assert spoken == "We are open nine to five."
        assert (
            "".join(e.delta for e in events.of("response.output_audio_transcript.delta")) == spoken
        )
        deltas = [base64.b64decode(e.delta) for e in events.of("response.output_audio.delta")]
        assert len(deltas) > 5
        assert all(len(d) <= 8 * 50 for d in deltas)  # ≤ 50 ms of 8 kHz μ-law each
        assert sum(map(len, deltas)) > 8 * 1000  # about a second of speech
        item = done.response.output[0]
        assert item.content[0].transcript == spoken and item.status == "completed"

        record = sim.session_record(sim.snapshot()[0]["id"])
        assert record is not None
        assert record["transcripts"] == [
            {"item_id": started.item_id, "transcript": "What are your opening hours?"}
        ]
        assert record["append_count"] == (400 + 600 + 500) * 8 // 160


async def test_function_call_then_tool_output_then_spoken_result() -> None:
    script = {"turns": [SCRIPT["turns"][1]]}
    async with RealtimeSimulator(script=script) as sim, connect(sim) as (conn, events):
        await configure(conn, events, tools=[BOOK_TABLE_TOOL])
        await send_audio(conn, utterance())
        done = await events.wait_for("response.done")
        call = done.response.output[0]
        assert call.type == "function_call" and call.name == "book_table"
        assert json.loads(call.arguments) == {"party_size": 2, "time": "19:00"}
        args = "".join(e.delta for e in events.of("response.function_call_arguments.delta"))
        args_done = events.of("response.function_call_arguments.done")[0]
        assert args == args_done.arguments == call.arguments
        assert args_done.call_id == call.call_id
        assert not events.of("response.output_audio.delta")

        await conn.conversation.item.create(
            item={
                "type": "function_call_output",
                "call_id": call.call_id or "",
                "output": json.dumps({"confirmed": True, "table": 12}),
            }
        )
        await events.wait_for("conversation.item.done")
        await conn.response.create()
        reply = await events.wait_for("response.done")
        assert reply.response.status == "completed"
        assert reply.response.output[0].content[0].transcript == "Done: confirmed: yes, table: 12"
        assert not events.of("error")


async def test_scripted_tool_missing_from_session_falls_back_to_speech() -> None:
    script = {"turns": [SCRIPT["turns"][1]]}
    async with RealtimeSimulator(script=script) as sim, connect(sim) as (conn, events):
        await configure(conn, events)  # no tools declared
        await send_audio(conn, utterance())
        done = await events.wait_for("response.done")
        assert done.response.output[0].type == "message"
        assert not events.of("response.function_call_arguments.done")
        assert not events.of("error")


async def test_greeting_via_say_exactly() -> None:
    async with RealtimeSimulator() as sim, connect(sim) as (conn, events):
        await configure(conn, events)
        greet = 'Greet the caller. Say exactly: "Thanks for calling Acme, how can I help?"'
        await conn.response.create(response={"instructions": greet})
        done = await events.wait_for("response.done")
        text = done.response.output[0].content[0].transcript
        assert text == "Thanks for calling Acme, how can I help?"
        assert events.of("response.output_audio.delta")


async def test_default_policy_and_overflow_placeholder_transcript() -> None:
    async with RealtimeSimulator() as sim, connect(sim) as (conn, events):
        await configure(conn, events)
        await send_audio(conn, utterance(speech_ms=1400))
        transcript = await events.wait_for("conversation.item.input_audio_transcription.completed")
        # committed audio: 1400 ms speech + 300 ms trailing silence (prefix clamps at 0)
        assert transcript.transcript == "(caller speech 1, 1.7 s)"
        done = await events.wait_for("response.done")
        assert done.response.output[0].content[0].transcript == "Okay, I understand."


async def test_manual_commit_and_clear_without_turn_detection() -> None:
    async with RealtimeSimulator(script=SCRIPT) as sim, connect(sim) as (conn, events):
        session = json.loads(json.dumps(PCMU_SESSION))
        session["audio"]["input"]["turn_detection"] = None
        await conn.session.update(session=session)
        updated = await events.wait_for("session.updated")
        assert updated.session.audio.input.turn_detection is None

        await conn.input_audio_buffer.commit()
        err = await events.wait_for("error")
        assert err.error.code == "input_audio_buffer_commit_empty"

        await send_audio(conn, utterance())
        await conn.input_audio_buffer.clear()
        await events.wait_for("input_audio_buffer.cleared")
        await send_audio(conn, utterance())
        await conn.input_audio_buffer.commit()
        await events.wait_for("input_audio_buffer.committed")
        transcript = await events.wait_for("conversation.item.input_audio_transcription.completed")
        assert transcript.transcript == "What are your opening hours?"
        assert not events.of("input_audio_buffer.speech_started")
        assert not events.of("response.created")  # a manual commit never answers by itself
        await conn.response.create()
        done = await events.wait_for("response.done")
        assert done.response.output[0].content[0].transcript == "We are open nine to five."


async def test_text_only_response_and_no_barge_in_when_interrupt_disabled() -> None:
    async with RealtimeSimulator(script=SCRIPT, speed=0.5) as sim, connect(sim) as (conn, events):
        session = json.loads(json.dumps(PCMU_SESSION))
        session["output_modalities"] = ["text"]
        session["audio"]["input"]["turn_detection"]["interrupt_response"] = False
        await conn.session.update(session=session)
        await events.wait_for("session.updated")
        await send_audio(conn, utterance())
        await events.wait_for("response.output_text.delta")
        await send_audio(conn, tone_ulaw(200))  # caller talks over the agent
        await events.wait_for("input_audio_buffer.speech_started")
        done = await events.wait_for("response.done")
        assert done.response.status == "completed"  # interrupt_response is off
        assert done.response.output_modalities == ["text"]
        assert done.response.output[0].content[0].text == "We are open nine to five."
        text = "".join(e.delta for e in events.of("response.output_text.delta"))
        assert text == "We are open nine to five."
        assert not events.of("response.output_audio.delta")
        assert [r["status"] for r in sim.snapshot()[0]["responses"]] == ["completed"]
