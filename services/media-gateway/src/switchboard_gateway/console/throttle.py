"""Slowing password guessing on every gateway replica at once.

Why: a count kept in one process gives a guesser a fresh allowance on each replica and after
each restart. Failed sign-ins are counted on the bus instead, in the KV bucket
``sb_console_failures``: the key is a hash of the login (any name typed into the form makes a
valid key, and none is stored), the value the failures' times, and the bucket's TTL drops a
login's entry one window after its last failure. Updates are revision-checked, so two replicas
counting at once lose no failure.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable

from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from switchboard_common import subjects
from switchboard_common.buckets import open_bucket

log = logging.getLogger(__name__)

#: Revision conflicts retried before a failure is given up (others are counting the same login).
_TRIES = 5


class SignInThrottle:
    """After ``limit`` failed sign-ins of one login within ``window_s``, that login is refused
    until the window has passed."""

    def __init__(
        self,
        kv: KeyValue,
        limit: int = 5,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kv = kv
        self.limit = limit
        self.window_s = window_s
        self._clock = clock

    @classmethod
    async def open(
        cls,
        nc: Client,
        limit: int = 5,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> SignInThrottle:
        kv = await open_bucket(nc, subjects.CONSOLE_FAILURES_BUCKET, window_s)
        return cls(kv, limit, window_s, clock)

    @staticmethod
    def _key(login: str) -> str:
        return hashlib.sha256(login.encode()).hexdigest()[:40]

    async def _recent(self, login: str) -> tuple[list[float], int | None]:
        """The login's failures within the window, and the entry's revision (None: none)."""
        try:
            entry = await self._kv.get(self._key(login))
        except KeyNotFoundError:
            return [], None
        try:
            times = [float(t) for t in json.loads(entry.value or b"[]")]
        except (ValueError, TypeError):
            times = []
        horizon = self._clock() - self.window_s
        return [t for t in times if t > horizon], entry.revision

    async def blocked(self, login: str) -> bool:
        try:
            recent, _ = await self._recent(login)
        except Exception as exc:  # the bus is away: sign-in is checked, just not slowed
            log.warning("sign-in throttle unavailable: %s", exc)
            return False
        return len(recent) >= self.limit

    async def failed(self, login: str) -> None:
        key = self._key(login)
        for _ in range(_TRIES):
            try:
                recent, revision = await self._recent(login)
                value = json.dumps([*recent, self._clock()][-self.limit :]).encode()
                if revision is None:
                    await self._kv.create(key, value)
                else:
                    await self._kv.update(key, value, last=revision)
                return
            except (KeyNotFoundError, KeyWrongLastSequenceError):
                continue  # another replica counted first, or the entry expired: read again
            except Exception as exc:
                log.warning("sign-in throttle could not count a failure: %s", exc)
                return

    async def succeeded(self, login: str) -> None:
        try:
            await self._kv.purge(self._key(login))
        except Exception as exc:
            log.warning("sign-in throttle could not forget failures: %s", exc)
