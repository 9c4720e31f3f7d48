"""The call's live feed: what each side said, and each tool call, as it happens.

Why: dashboards and the business's own systems follow a call on its transcript subject while
it is going on. The feed is best effort (a lost message is logged, never fails the call); the
durable account of the call is its call events, not this.
"""

from __future__ import annotations

import logging

from nats.aio.client import Client

from switchboard_common import subjects
from switchboard_common.messages import Speaker, ToolCallEvent, TranscriptEvent

log = logging.getLogger(__name__)


class LiveFeed:
    def __init__(self, nc: Client, business_id: str, call_id: str) -> None:
        self._nc = nc
        self._business_id = business_id
        self._call_id = call_id
        self._subject = subjects.transcript(business_id, call_id)

    async def said(
        self, speaker: Speaker, text: str, item_id: str, interrupted: bool = False
    ) -> None:
        await self.publish(
            TranscriptEvent(
                call_id=self._call_id,
                business_id=self._business_id,
                speaker=speaker,
                text=text,
                item_id=item_id,
                interrupted=interrupted,
            )
        )

    async def publish(self, event: TranscriptEvent | ToolCallEvent) -> None:
        try:
            await self._nc.publish(self._subject, event.to_bytes())
        except Exception as exc:
            log.warning("call %s: event not published: %s", self._call_id, exc)
