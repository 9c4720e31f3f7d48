"""The holding phrase: said when a tool keeps a caller who has heard nothing waiting, and the
answer asked for only once the phrase's response is over."""

from __future__ import annotations

import asyncio

from switchboard_agent.tools.holding import HOLDING_METADATA, HoldingLine


class _Speaker:
    def __init__(self, finishes: asyncio.Future[str] | None = None) -> None:
        self.said: list[tuple[str, dict[str, str], str]] = []
        self.asked = asyncio.Event()
        self._finishes = finishes  # the tool finishes once the phrase is asked for

    async def say(self, instructions: str, *, metadata: dict[str, str], event_id: str) -> None:
        self.said.append((instructions, metadata, event_id))
        self.asked.set()
        if self._finishes is not None:
            self._finishes.set_result("late")


def _line(now: float) -> HoldingLine:
    # The VAD waits 0.5 s of silence before it reports the end of speech.
    return HoldingLine(0.7, "One moment while I check that.", 0.5, clock=lambda: now)


def _done(value: str) -> asyncio.Future[str]:
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def test_the_phrase_is_due_on_the_caller_s_clock() -> None:
    assert _line(0.0).deadline(10.0) == 10.0 - 0.5 + 0.7


async def test_a_tool_that_answers_in_time_needs_no_phrase() -> None:
    speaker = _Speaker()
    line = _line(now=10.0)
    result = await line.results(
        _done("ok"), speech_stopped_at=10.0, may_speak=lambda: True, speaker=speaker
    )
    assert result == "ok" and speaker.said == []
    async with asyncio.timeout(1):
        await line.ready_to_answer()


async def test_a_late_tool_gets_one_holding_phrase_and_the_answer_waits_for_it() -> None:
    speaker = _Speaker()
    line = _line(now=11.0)  # the deadline (10.2) has passed
    tool: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(
        line.results(tool, speech_stopped_at=10.0, may_speak=lambda: True, speaker=speaker)
    )
    async with asyncio.timeout(1):
        await speaker.asked.wait()
    ((instructions, metadata, event_id),) = speaker.said
    assert 'Say exactly: "One moment while I check that."' in instructions
    assert metadata == HOLDING_METADATA and event_id
    tool.set_result("answer")
    async with asyncio.timeout(1):
        assert await waiting == "answer"

    answer = asyncio.create_task(line.ready_to_answer())
    line.response_done({"other": "response"})
    await asyncio.sleep(0)
    assert not answer.done(), "the holding phrase is still being said"
    line.response_done(dict(HOLDING_METADATA))
    async with asyncio.timeout(1):
        await answer


async def test_a_refused_holding_request_does_not_hold_the_answer_up() -> None:
    tool: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    speaker = _Speaker(finishes=tool)
    line = _line(now=11.0)
    await line.results(tool, speech_stopped_at=10.0, may_speak=lambda: True, speaker=speaker)
    ((_, _, event_id),) = speaker.said
    line.error("event_someone_else")
    answer = asyncio.create_task(line.ready_to_answer())
    await asyncio.sleep(0)
    assert not answer.done()
    line.error(event_id)
    async with asyncio.timeout(1):
        await answer


async def test_no_phrase_when_the_caller_heard_something_or_the_model_is_busy() -> None:
    speaker = _Speaker()
    line = _line(now=11.0)
    heard = await line.results(
        _done("heard"), speech_stopped_at=None, may_speak=lambda: True, speaker=speaker
    )
    tool: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    asked: list[bool] = []

    def busy() -> bool:
        asked.append(True)
        tool.set_result("busy")  # the tool finishes after the model was found busy
        return False

    result = await line.results(tool, speech_stopped_at=10.0, may_speak=busy, speaker=speaker)
    assert (heard, result, asked) == ("heard", "busy", [True])
    assert speaker.said == []
