"""Whatever a client sends, the Realtime simulator answers as OpenAI does: an ``error`` event
for what does not validate, never a dropped connection, and every frame it sends is a valid
server event. Checked over generated client messages, derandomised."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from switchboard_sim.realtime import RealtimeSimulator

from .realtime_sim_helpers import PCMU_SESSION, connect

_CLIENT_TYPES = [
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
    "no.such.event",
]
_ANY = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_FIELDS = [
    "event_id",
    "audio",
    "item",
    "item_id",
    "content_index",
    "audio_end_ms",
    "response",
    "session",
    "previous_item_id",
]


@st.composite
def _messages(draw: st.DrawFn) -> str:
    """A client message: a known type with fields of any shape, or now and then not JSON."""
    if draw(st.integers(0, 9)) == 9:
        return draw(st.text(max_size=30))
    message: dict[str, Any] = {"type": draw(st.sampled_from(_CLIENT_TYPES))}
    for name in draw(st.lists(st.sampled_from(_FIELDS), unique=True, max_size=4)):
        message[name] = draw(_ANY)
    return orjson.dumps(message).decode()


#: An update that is valid in every state a session can be in. A whole configuration is not:
#: once assistant audio has played, a voice change is refused (as OpenAI refuses it), and
#: generated messages can both change the voice and make the assistant speak.
_PROBE = {"type": "realtime", "instructions": "Still there?"}


def _answers_the_probe(event: Any) -> bool:
    return bool(event.session.instructions == _PROBE["instructions"])


async def _converse(sim: RealtimeSimulator, messages: list[str]) -> None:
    async with connect(sim) as (conn, events):
        await conn.session.update(session=PCMU_SESSION)  # type: ignore[arg-type]
        await events.wait_for("session.updated")
        for message in messages:
            await conn.send_raw(message)
        # The connection still serves: a valid update is answered after whatever came before
        # (each frame read on the way is validated against the SDK's server events).
        await conn.session.update(session=_PROBE)  # type: ignore[arg-type]
        await events.wait_for("session.updated", _answers_the_probe, within=10)


#: Found in the whole suite: the assistant speaks, then a whole configuration arrives whose
#: voice differs from the session's. The simulator refuses the voice change as OpenAI does.
_SPEAK_THEN_RECONFIGURE = [
    '{"type":"response.create","response":null}',
    '{"type":"session.update","session":{"type":"realtime","audio":{"output":{"voice":"ash"}}}}',
]


async def test_a_voice_change_after_assistant_audio_is_refused_and_the_session_serves() -> None:
    async with RealtimeSimulator() as sim, connect(sim) as (conn, events):
        await conn.session.update(session=PCMU_SESSION)  # type: ignore[arg-type]
        await events.wait_for("session.updated")
        await conn.send_raw(_SPEAK_THEN_RECONFIGURE[0])
        await events.wait_for("response.output_audio.delta")
        await conn.send_raw(_SPEAK_THEN_RECONFIGURE[1])
        refused = await events.wait_for("error")
        assert refused.error.code == "cannot_update_voice"
        await conn.session.update(session=_PROBE)  # type: ignore[arg-type]
        await events.wait_for("session.updated", _answers_the_probe)


@settings(max_examples=40)
@given(st.lists(_messages(), min_size=1, max_size=12))
@example(_SPEAK_THEN_RECONFIGURE)
async def test_any_client_messages_leave_the_session_serving(messages: list[str]) -> None:
    async with RealtimeSimulator() as sim:
        await _converse(sim, messages)
