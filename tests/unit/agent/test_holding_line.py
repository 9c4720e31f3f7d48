"""Our holding line: the business's own clip on calls in the voice it was rendered in, ours
otherwise, sent as numbered agent chunks like any reply."""

from __future__ import annotations

import base64

from switchboard_agent import holding
from switchboard_agent.playback import AudioLedger
from switchboard_common.audio import decode_agent_chunk
from switchboard_common.business import DEMO_BUSINESS, HoldingClip

OWN = b"\x7f\x00" * 2000  # 0.5 s
BUSINESS = DEMO_BUSINESS.model_copy(
    update={
        "voice": "cedar",
        "holding_clip": HoldingClip(voice="cedar", ulaw_base64=base64.b64encode(OWN).decode()),
    }
)


def test_the_business_clip_plays_in_its_own_voice_only() -> None:
    assert holding.clip_for(BUSINESS) == OWN
    # The business moved to another voice (a new call, or a clip not rendered again yet).
    assert holding.clip_for(BUSINESS.model_copy(update={"voice": "marin"})) == (
        holding.holding_clip()
    )
    assert holding.clip_for(DEMO_BUSINESS) == holding.holding_clip()


async def test_the_clip_is_sent_whole_in_numbered_chunks() -> None:
    sent: list[bytes] = []

    async def publish(chunk: bytes) -> None:
        sent.append(chunk)

    ledger = AudioLedger()
    assert await holding.play(holding.clip_for(BUSINESS), ledger, publish) == 5
    chunks = [decode_agent_chunk(c) for c in sent]
    assert [seq for seq, _ in chunks] == [0, 1, 2, 3, 4]
    assert b"".join(bytes(audio) for _, audio in chunks) == OWN
