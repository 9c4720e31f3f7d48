"""The link keeper moves a call to a new Realtime session before the provider's cap: the new
session is opened while the old one serves, then the pump moves the call over as after a
drop (cut reply settled, conversation replayed, the owed answer asked for), with no reconnect.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from openai import AsyncOpenAI
from openai.types.realtime import RealtimeServerEvent
from prometheus_client import REGISTRY
from pydantic import ValidationError
from websockets.exceptions import ConnectionClosedOK
from websockets.frames import Close

from switchboard_agent.realtime.keeper import LinkKeeper
from switchboard_agent.realtime.link import AudioDelta, RealtimeLink
from switchboard_agent.resume import Resumption, Said
from switchboard_agent.settings import AgentSettings
from switchboard_agent.tools import ToolRegistry
from switchboard_common.business import DEMO_BUSINESS

_CLOSED = object()


class _Link:
    """A Realtime session that records what it is sent; ``close`` ends its event stream."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.opened_at = 0.0
        self._log = log
        self._events: asyncio.Queue[object] = asyncio.Queue()

    async def configure(self, session: Any) -> None:
        self._log.append(f"{self.name}.configure")

    async def next_event(self) -> Any:
        event = await self._events.get()
        if event is _CLOSED:
            raise ConnectionClosedOK(Close(1000, ""), Close(1000, ""), True)
        return event

    async def add_text(self, role: str, text: str) -> None:
        self._log.append(f"{self.name}.add_text {role}: {text}")

    async def add_tool_use(self, call_id: str, name: str, arguments: str, output: str) -> None:
        self._log.append(f"{self.name}.add_tool_use {name}")

    async def respond(self, instructions: str | None = None) -> None:
        self._log.append(f"{self.name}.respond")

    async def close(self) -> None:
        self._log.append(f"{self.name}.close")
        self._events.put_nowait(_CLOSED)


class _Call:
    """The call the keeper serves (a LinkHost), recording what it is told."""

    def __init__(self, log: list[str], resumed: Resumption) -> None:
        self.end_reason = ""
        self._log = log
        self._resumed = resumed
        self.attached: list[str | None] = []
        #: Set when a link other than the first is attached.
        self.moved = asyncio.Event()
        #: A tool's result is on its way (it will ask the new session to answer).
        self.answering = False

    def attach(self, link: RealtimeLink | None) -> None:
        self.attached.append(None if link is None else cast(Any, link).name)
        if link is not None and len(self.attached) > 1:
            self.moved.set()

    async def handle(self, event: AudioDelta | RealtimeServerEvent) -> None:
        pass

    async def link_dropped(self) -> None:
        self._log.append("call.cut")

    def forget_response(self) -> None:
        pass

    def conversation(self) -> Resumption:
        return self._resumed

    def hold_the_line(self) -> None:
        self._log.append("call.hold")

    async def catch_up(self, link: RealtimeLink) -> bool:
        return False

    def tools_answering(self) -> bool:
        return self.answering


def _counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def _keeper(
    monkeypatch: pytest.MonkeyPatch, resumed: Resumption, **settings: Any
) -> tuple[LinkKeeper, _Call, list[str]]:
    log: list[str] = []
    names = iter("ABCDEF")

    async def open_link(client: AsyncOpenAI, model: str) -> _Link:
        link = _Link(next(names), log)
        log.append(f"{link.name}.open")
        return link

    monkeypatch.setattr(RealtimeLink, "open", staticmethod(open_link))
    call = _Call(log, resumed)
    defaults: dict[str, Any] = {"realtime_open_retry_delays_s": [], "realtime_max_reconnects": 0}
    agent_settings = AgentSettings(agent_id="agent-t", **(defaults | settings))
    keeper = LinkKeeper(
        "CAroll", call, cast(AsyncOpenAI, None), agent_settings, DEMO_BUSINESS, ToolRegistry()
    )
    return keeper, call, log


#: A call whose answer a rollover cut: the new session is owed the rest of it.
CUT = Resumption(
    items=(Said("user", "When are you open?"), Said("assistant", "We open at…")),
    answer_due=True,
    last_seq=4,
    caller_turns=1,
    agent_turns=1,
    caller_spoke=True,
)


async def test_a_rollover_moves_the_call_to_a_session_opened_while_the_old_one_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keeper, call, log = _keeper(monkeypatch, CUT)
    first = await keeper.start()
    pump = asyncio.create_task(keeper.pump(first))
    rollovers = _counter("switchboard_agent_realtime_rollovers_total")
    reconnects = _counter("switchboard_agent_realtime_reconnects_total")

    await keeper.roll_over()
    await asyncio.wait_for(call.moved.wait(), 1.0)  # the pump moves the call over

    assert log[log.index("A.close") - 2 : log.index("A.close")] == ["B.open", "B.configure"]
    after_close = log[log.index("A.close") + 1 :]
    assert after_close == [
        "call.cut",
        "B.add_text user: When are you open?",
        "B.add_text assistant: We open at…",
        "B.respond",
    ]
    assert call.attached == ["A", None, "B"]
    assert _counter("switchboard_agent_realtime_rollovers_total") == rollovers + 1
    assert _counter("switchboard_agent_realtime_reconnects_total") == reconnects
    assert call.end_reason == ""

    await cast(Any, keeper._current).close()  # B drops with no reconnects left
    await asyncio.wait_for(pump, 1.0)
    assert call.end_reason == "realtime_lost"


async def test_a_new_session_leaves_the_answer_to_a_tool_result_on_its_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The caller's question is owed an answer, but the tool it called is still running: its
    result will reach the new session and ask it to answer; answering now would answer twice."""
    keeper, call, log = _keeper(monkeypatch, CUT)
    first = await keeper.start()
    pump = asyncio.create_task(keeper.pump(first))
    call.answering = True
    await keeper.roll_over()
    await asyncio.wait_for(call.moved.wait(), 1.0)
    assert log[-1] == "B.add_text assistant: We open at…"
    assert "B.respond" not in log
    await cast(Any, keeper._current).close()
    await asyncio.wait_for(pump, 1.0)


async def test_a_session_that_cannot_be_opened_leaves_the_old_one_serving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keeper, call, log = _keeper(monkeypatch, CUT)
    first = await keeper.start()
    monkeypatch.setattr(RealtimeLink, "open", staticmethod(_refuse))

    await keeper.roll_over()  # no exception: the next chance tries again

    assert "A.close" not in log
    assert call.attached == ["A"]
    assert keeper._current is first


async def test_a_call_whose_model_is_away_at_the_start_waits_for_it_holding_the_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The provider refuses the first tries (a restart): the first session is waited for
    within the outage window, as a dropped one is, and the caller hears our holding line."""
    keeper, call, log = _keeper(
        monkeypatch,
        CUT,
        realtime_open_retry_delays_s=[0.05],
        realtime_outage_window_s=2.0,
        realtime_holding_after_s=0.1,
    )
    tries: list[int] = []

    async def away_then_back(client: AsyncOpenAI, model: str) -> RealtimeLink:
        tries.append(1)
        if len(tries) <= 4:
            raise OSError("the provider refused")
        return cast(RealtimeLink, _Link("A", log))

    monkeypatch.setattr(RealtimeLink, "open", staticmethod(away_then_back))
    link = await keeper.start()
    assert cast(Any, link).name == "A" and len(tries) == 5
    assert "call.hold" in log  # 0.2 s away: past the 0.1 s after which the line is held
    assert call.attached == ["A"]


async def _refuse(client: AsyncOpenAI, model: str) -> RealtimeLink:
    raise OSError("the provider refused")


async def test_the_deadline_counts_from_when_the_session_opened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keeper, _, _ = _keeper(
        monkeypatch,
        CUT,
        realtime_session_rollover_s=50.0,
        realtime_session_cap_s=100.0,
        realtime_rollover_margin_s=10.0,
    )
    link = await keeper.start()
    opened = link.opened_at

    assert not keeper.rollover_due(opened + 49.9)
    assert keeper.rollover_due(opened + 50.0)
    assert not keeper.rollover_overdue(opened + 89.9)
    assert keeper.rollover_overdue(opened + 90.0)


def test_a_rollover_point_after_the_deadline_is_refused() -> None:
    with pytest.raises(ValidationError, match="before the rollover deadline"):
        AgentSettings(realtime_session_rollover_s=95.0, realtime_session_cap_s=100.0)
    with pytest.raises(ValidationError, match="shorter than the session cap"):
        AgentSettings(realtime_session_cap_s=20.0, realtime_rollover_margin_s=20.0)
