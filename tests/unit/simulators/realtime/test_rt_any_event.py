"""Whatever a client sends, the Realtime simulator answers as OpenAI does: an ``error`` event
for what does not validate, never a dropped connection, and every frame it sends is a valid
server event. Checked over generated client messages, derandomised."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
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


async def _converse(sim: RealtimeSimulator, messages: list[str]) -> None:
    async with connect(sim) as (conn, events):
        for message in messages:
            await conn.send_raw(message)
        # The connection still serves: a valid update is answered after whatever came before
        # (each frame read on the way is validated against the SDK's server events).
        await conn.session.update(session=PCMU_SESSION)  # type: ignore[arg-type]
        await events.wait_for("session.updated", within=10)


@settings(max_examples=40)
@given(st.lists(_messages(), min_size=1, max_size=12))
async def test_any_client_messages_leave_the_session_serving(messages: list[str]) -> None:
    async with RealtimeSimulator() as sim:
        await _converse(sim, messages)
