"""A taken-over call's subjects, subscribed before the lease is taken.

Why: the gateway rebinds the caller's stream to the new owner and sends it ``call.started``
as soon as it knows who took the call, and it can learn that from the call record (when the
offer's answer came too late) before the new agent's session exists. A message published
before anyone subscribed is gone, and a session that never hears ``call.started`` never
starts: the caller hears nothing more. So the subjects of the new epoch are subscribed
before the lease makes this agent the owner anyone can see, and what arrives meanwhile
waits here until the session takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from switchboard_common import subjects

Handler = Callable[[Msg], Awaitable[None]]


class CallInbox:
    """The call's control and caller-audio subscriptions at one epoch, queueing until
    :meth:`deliver_to` hands them to their handlers."""

    def __init__(self, control: Subscription, audio: Subscription) -> None:
        self.control = control
        self.audio = audio
        #: The delivering tasks, held so that they are not garbage-collected while they run.
        self._forwards: list[asyncio.Task[None]] = []

    @classmethod
    async def open(
        cls, nc: Client, call_id: str, epoch: int, audio_pending_bytes: int
    ) -> CallInbox:
        control = await nc.subscribe(subjects.agent_control(call_id, epoch))
        audio = await nc.subscribe(
            subjects.caller_audio(call_id, epoch), pending_bytes_limit=audio_pending_bytes
        )
        return cls(control, audio)

    def deliver_to(self, on_control: Handler, on_audio: Handler) -> list[Subscription]:
        """From now on, and starting with what queued, each message goes to its handler in
        order (as a callback subscription's would). Returns the subscriptions: unsubscribing
        them ends the delivery."""
        self._forwards = [
            asyncio.create_task(_forward(self.control, on_control), name="inbox-control"),
            asyncio.create_task(_forward(self.audio, on_audio), name="inbox-audio"),
        ]
        return [self.control, self.audio]

    async def close(self) -> None:
        """Give the subjects up (the lease was not won)."""
        for sub in (self.control, self.audio):
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


async def _forward(sub: Subscription, handler: Handler) -> None:
    async for msg in sub.messages:  # ends when the subscription is unsubscribed
        await handler(msg)
