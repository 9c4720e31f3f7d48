"""A call follows its business's new settings at a turn boundary, keeping its voice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from switchboard_agent.limits import CallLimits
from switchboard_agent.live_settings import LiveSettings
from switchboard_agent.realtime.keeper import LinkKeeper
from switchboard_agent.realtime.link import RealtimeLink
from switchboard_agent.tool_runs import ToolRuns
from switchboard_common.business import DEMO_BUSINESS, BusinessProfile

pytestmark = pytest.mark.timeout(10)


@dataclass
class Parts:
    """Stands in for the keeper, the limits and the tool runs: what each was handed."""

    used: list[BusinessProfile] = field(default_factory=list)
    refreshed: list[Any] = field(default_factory=list)

    def use_business(self, business: BusinessProfile) -> None:
        self.used.append(business)

    async def refresh(self, link: Any) -> None:
        self.refreshed.append(link)


def _live(stored: list[BusinessProfile | None]) -> tuple[LiveSettings, Parts]:
    parts = Parts()
    live = LiveSettings(
        "CA1",
        DEMO_BUSINESS,
        lambda: stored[0],
        cast(LinkKeeper, parts),
        cast(CallLimits, parts),
        cast(ToolRuns, parts),
    )
    return live, parts


async def test_new_settings_apply_with_the_calls_voice() -> None:
    changed = DEMO_BUSINESS.model_copy(
        update={"instructions": "New rules.", "voice": "cedar", "caller_silence_timeout_s": 9}
    )
    stored: list[BusinessProfile | None] = [changed]
    live, parts = _live(stored)
    link = cast(RealtimeLink, object())
    assert await live.apply(link)
    assert live.business.instructions == "New rules."
    assert live.business.caller_silence_timeout_s == 9  # the limits follow too
    assert live.business.voice == DEMO_BUSINESS.voice  # a new voice is for new calls
    assert parts.used == [live.business] * 3  # keeper, limits and tools all got it
    assert parts.refreshed == [link]
    assert not await live.apply(link)  # nothing new since
    assert live.updates == 1


async def test_nothing_changes_without_a_change_or_a_link() -> None:
    stored: list[BusinessProfile | None] = [DEMO_BUSINESS]
    live, parts = _live(stored)
    assert not await live.apply(cast(RealtimeLink, object()))
    stored[0] = None  # the business was removed: the call keeps what it has
    assert not await live.apply(cast(RealtimeLink, object()))
    stored[0] = DEMO_BUSINESS.model_copy(update={"greeting": "Hi."})
    assert not await live.apply(None)  # the link is being replaced: later
    assert parts.used == [] and live.business == DEMO_BUSINESS
