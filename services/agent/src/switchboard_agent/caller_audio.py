"""The caller's audio on its way to the model.

Why: caller audio arrives 50 times a second whether or not a Realtime link can take it. Before
the stream starts, and while a dropped link is replaced, it is buffered (bounded) and flushed
into the next link; the moments before speech and the utterance in progress are kept, so a
link that drops mid-sentence can be given the whole sentence again. :meth:`on_audio` is the
subscription's callback, the per-frame path: it does no more than it must.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from nats.aio.msg import Msg

from . import metrics
from .realtime.link import RealtimeLink

#: Caller audio kept from before speech starts (covers the VAD's prefix padding), in frames.
PREFIX_FRAMES = 25
#: Longest utterance kept for a replay after a reconnect (30 s of 20 ms frames).
MAX_SPEECH_FRAMES = 1500

log = logging.getLogger(__name__)


class CallerAudio:
    def __init__(self, call_id: str, started: asyncio.Event, early_frames: int) -> None:
        self._call_id = call_id
        self._started = started
        #: Where the audio goes; None until the first link opens and while one is replaced.
        self.link: RealtimeLink | None = None
        #: When caller audio last reached a link (monotonic).
        self.last_audio_at = time.monotonic()
        #: The caller is speaking (the server's VAD says so).
        self.speaking = False
        self._early: deque[bytes] = deque(maxlen=max(1, early_frames))
        self._recent: deque[bytes] = deque(maxlen=PREFIX_FRAMES)
        self._speech: list[bytes] = []

    async def on_audio(self, msg: Msg) -> None:
        link = self.link
        if link is None or not self._started.is_set():
            if len(self._early) == self._early.maxlen:
                metrics.FRAMES_DROPPED.labels("early_overflow").inc()
            self._early.append(msg.data)
            return
        self.last_audio_at = time.monotonic()
        self._recent.append(msg.data)
        if self.speaking and len(self._speech) < MAX_SPEECH_FRAMES:
            self._speech.append(msg.data)
        try:
            await link.append_audio(msg.data)
        except Exception as exc:  # the pump sees the closed connection and ends the call
            log.debug("call %s: append failed: %s", self._call_id, exc)
            return
        metrics.FRAMES_IN.inc()

    def speech_started(self) -> None:
        self.speaking = True
        self._speech = list(self._recent)

    def speech_stopped(self) -> None:
        self.speaking = False
        self._speech = []

    async def flush(self, link: RealtimeLink) -> None:
        """Send ``link`` what was buffered while no link could take it."""
        while self._early:
            await link.append_audio(self._early.popleft())

    async def catch_up(self, link: RealtimeLink) -> bool:
        """Send a new link the audio it missed; returns whether the caller was mid-sentence."""
        speaking = self.speaking
        if speaking:
            # The caller was mid-sentence when the old session ended (it dropped, or a
            # rollover closed it): send it all again (the early buffer then only holds what
            # came after).
            for frame in self._speech:
                await link.append_audio(frame)
            self.speaking = False
            self._speech = []
        await self.flush(link)
        return speaking
