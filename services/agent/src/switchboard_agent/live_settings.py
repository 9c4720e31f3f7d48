"""A business's new settings reach its calls in progress.

Why: an admin who changes a business's instructions, tools or limits expects the calls on the
line to follow, not only the next ones. The call looks its business up again at each turn
boundary (neither side speaking, nothing playing) and, when the profile changed, brings its
Realtime session up to date with ``session.update``, and its limits and tools with it. The
voice is the exception: the API refuses to change it once the session has spoken, so a call
keeps the voice it started with (a new voice is for new calls).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from switchboard_common.business import BusinessProfile

from .limits import CallLimits
from .realtime.keeper import LinkKeeper
from .realtime.link import RealtimeLink
from .tool_runs import ToolRuns

log = logging.getLogger(__name__)

#: The business as the directory has it now (None: it was removed; the call keeps its own).
Lookup = Callable[[], BusinessProfile | None]


class LiveSettings:
    def __init__(
        self,
        call_id: str,
        business: BusinessProfile,
        lookup: Lookup | None,
        keeper: LinkKeeper,
        limits: CallLimits,
        tool_runs: ToolRuns,
    ) -> None:
        self._call_id = call_id
        self.business = business
        self._lookup = lookup
        self._keeper = keeper
        self._limits = limits
        self._tool_runs = tool_runs
        #: The directory's profile last applied (before the voice was pinned).
        self._seen = business
        self.updates = 0

    def changed(self) -> BusinessProfile | None:
        """The business's new settings for this call (its voice kept), when they changed."""
        if self._lookup is None:
            return None
        latest = self._lookup()
        if latest is None or latest == self._seen:
            return None
        return latest

    async def apply(self, link: RealtimeLink | None) -> bool:
        """At a turn boundary: bring the call up to date; True when something changed."""
        latest = self.changed()
        if latest is None or link is None:
            return False
        self._seen = latest
        pinned = latest.model_copy(update={"voice": self.business.voice})
        if latest.voice != self.business.voice:
            log.info(
                "call %s: the business's new voice %r is for new calls; this one keeps %r",
                self._call_id,
                latest.voice,
                self.business.voice,
            )
        self.business = pinned
        self._keeper.use_business(pinned)
        self._limits.use_business(pinned)
        self._tool_runs.use_business(pinned)
        await self._keeper.refresh(link)
        self.updates += 1
        log.info("call %s: the business's new settings apply from now", self._call_id)
        return True
