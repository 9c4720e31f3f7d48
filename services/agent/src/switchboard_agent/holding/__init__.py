"""Our own holding line, played while the model cannot be reached.

Why: when the provider's link drops and does not come back at once, the caller must not sit
in dead air, and the model cannot speak for itself. So the agent plays a short clip of its
own, pre-rendered as 8 kHz μ-law (what Twilio plays, so nothing is converted per call), on
the call's usual audio path: the gateway plays it and marks it like any reply.

A business may store its own line, in its words and its agent's voice
(:class:`~switchboard_common.business.HoldingClip`); it is played on calls in the voice it was
rendered in. Otherwise, the clip shipped here ("One moment please, I'm still here.") plays: it
was rendered once with Debian's espeak-ng; it is data, nothing renders speech at run time.
(Twilio's ``<Say>`` is no fallback here: changing a live call's TwiML ends its media stream.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from importlib.resources import files

from switchboard_common.audio import encode_agent_chunk
from switchboard_common.business import BusinessProfile

from ..playback import AudioLedger

#: Audio per chunk sent to the gateway (what a model's delta carries, about).
CHUNK_BYTES = 800  # 100 ms
#: The ledger's item for our own audio (never a model item, so never truncated there).
HOLDING_ITEM = "switchboard_holding_line"


@cache
def holding_clip() -> bytes:
    """The shipped holding line, raw μ-law at 8 kHz."""
    return files(__package__).joinpath("one_moment.ulaw").read_bytes()


def clip_for(business: BusinessProfile) -> bytes:
    """The business's own holding line when it has one in the call's voice (``business`` as
    the call follows it: its voice is the call's), else ours."""
    clip = business.holding_clip
    if clip is not None and clip.voice == business.voice:
        return clip.ulaw
    return holding_clip()


async def play(
    clip: bytes, ledger: AudioLedger, publish: Callable[[bytes], Awaitable[None]]
) -> int:
    """Send ``clip`` to the caller as numbered agent chunks; returns how many were sent."""
    sent = 0
    for start in range(0, len(clip), CHUNK_BYTES):
        piece = clip[start : start + CHUNK_BYTES]
        await publish(encode_agent_chunk(ledger.record(HOLDING_ITEM, len(piece)), piece))
        sent += 1
    return sent
