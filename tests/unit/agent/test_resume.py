"""A resumed call's conversation is rebuilt from its durable events as the caller lived it:
agent turns cut where the caller stopped hearing them, tools with their results, key presses,
and whether the caller is still owed an answer. The replay is accepted by the Realtime
simulator as OpenAI would accept it."""

from __future__ import annotations

from typing import Any

from openai import AsyncOpenAI
from openai.types.realtime import ConversationItemDone, RealtimeErrorEvent

from switchboard_agent.realtime.link import AudioDelta, RealtimeLink
from switchboard_agent.resume import (
    CUT_MARK,
    Said,
    ToolUse,
    heard_text,
    keypress_text,
    rebuild,
    replay,
    with_unconfirmed,
)
from switchboard_common.events import (
    AgentTurnEvent,
    CallEndedEvent,
    CallerTurnEvent,
    CallStartedEvent,
    DtmfEvent,
    ToolCalledEvent,
)
from switchboard_sim.realtime import RealtimeSimulator

_IDS: dict[str, Any] = {"call_id": "CA1", "business_id": "acme"}
ANSWER = "We are open from nine in the morning until ten at night, every day of the week."


def started(seq: int = 1) -> CallStartedEvent:
    return CallStartedEvent(seq=seq, agent_id="agent-a", gateway_id="gw", **_IDS)


def caller(seq: int, text: str) -> CallerTurnEvent:
    return CallerTurnEvent(seq=seq, text=text, **_IDS)


def agent(
    seq: int, text: str, played_ms: int | None = None, produced_ms: int = 0
) -> AgentTurnEvent:
    return AgentTurnEvent(seq=seq, text=text, played_ms=played_ms, produced_ms=produced_ms, **_IDS)


def test_a_finished_exchange_owes_the_caller_nothing() -> None:
    events = [
        started(),
        agent(2, "Hello, Bella's Bistro.", 1500, 1500),
        caller(3, "When are you open?"),
        agent(4, ANSWER, 5000, 5000),
    ]
    resumed = rebuild(events)
    assert resumed.items == (
        Said("assistant", "Hello, Bella's Bistro."),
        Said("user", "When are you open?"),
        Said("assistant", ANSWER),
    )
    assert not resumed.answer_due
    assert (resumed.last_seq, resumed.caller_turns, resumed.agent_turns) == (4, 1, 2)


def test_a_question_whose_answer_died_with_the_agent_is_owed_an_answer() -> None:
    resumed = rebuild([started(), agent(2, "Hello.", 900, 900), caller(3, "When are you open?")])
    assert resumed.items[-1] == Said("user", "When are you open?")
    assert resumed.answer_due


def test_an_answer_cut_short_is_replayed_as_heard_and_owed_again() -> None:
    resumed = rebuild([started(), caller(2, "When are you open?"), agent(3, ANSWER, 1000, 5000)])
    heard = resumed.items[-1]
    assert isinstance(heard, Said) and heard.role == "assistant"
    assert heard.text.endswith(CUT_MARK)
    assert ANSWER.startswith(heard.text.removesuffix(CUT_MARK))
    assert len(heard.text) < len(ANSWER) / 2  # a fifth of the audio: far from the whole text
    assert resumed.answer_due


def test_heard_text_cuts_at_a_word_and_keeps_what_was_heard_whole() -> None:
    assert heard_text("one two three four", 500, 1000) == f"one two{CUT_MARK}"
    assert heard_text("one two three four", 1000, 1000) == "one two three four"
    assert heard_text("one two three four", None, 1000) == "one two three four"
    assert heard_text("one two three four", 0, 1000) == ""
    assert heard_text("onetwothree", 500, 1000) == ""  # no whole word was heard


def test_tools_and_key_presses_are_kept_and_a_tool_result_not_spoken_of_is_owed() -> None:
    tool = ToolCalledEvent(
        seq=4,
        name="query_knowledge_base",
        arguments='{"query":"hours"}',
        ok=True,
        output='{"passages":[]}',
        latency_ms=12.0,
        **_IDS,
    )
    events = [caller(3, "Hours?"), tool, started(), DtmfEvent(seq=2, digit="5", **_IDS)]
    resumed = rebuild(events)  # out of order on purpose: seq decides
    assert resumed.items == (
        Said("user", keypress_text("5")),
        Said("user", "Hours?"),
        ToolUse("resume_4", "query_knowledge_base", '{"query":"hours"}', '{"passages":[]}'),
    )
    assert resumed.answer_due
    assert resumed.last_seq == 4


def test_the_end_of_the_call_adds_nothing_to_the_conversation() -> None:
    ended = CallEndedEvent(seq=3, duration_s=3.0, caller_turns=1, agent_turns=0, **_IDS)
    resumed = rebuild([started(), caller(2, "Bye."), ended])
    assert resumed.items == (Said("user", "Bye."),)
    assert resumed.last_seq == 3


async def test_the_replay_is_accepted_by_the_realtime_simulator_in_order() -> None:
    items = rebuild(
        [
            started(),
            agent(2, "Hello, Bella's Bistro.", 1500, 1500),
            caller(3, "When are you open?"),
            ToolCalledEvent(
                seq=4,
                name="query_knowledge_base",
                arguments="{}",
                ok=True,
                output="open 9 to 10",
                latency_ms=5.0,
                **_IDS,
            ),
            agent(5, ANSWER, 1000, 5000),
        ]
    ).items
    async with RealtimeSimulator() as sim:
        client = AsyncOpenAI(api_key="sk-sim", base_url=sim.base_url, max_retries=0)
        link = await RealtimeLink.open(client, "gpt-realtime")
        try:
            assert await replay(link, items) == len(items)
            done: list[ConversationItemDone] = []
            while len(done) < 5:  # three messages, and the tool use as a call and its output
                event = await link.next_event()
                assert not isinstance(event, AudioDelta | RealtimeErrorEvent), event
                if isinstance(event, ConversationItemDone):
                    done.append(event)
        finally:
            await link.close()
    kinds = [(e.item.type, getattr(e.item, "role", None)) for e in done]
    assert (
        kinds
        == [
            ("message", "assistant"),
            ("message", "user"),
            ("function_call", None),
            ("function_call_output", None),
            ("message", "assistant"),
        ][: len(kinds)]
    )


def test_replies_still_playing_join_the_conversation_and_answer_what_came_before() -> None:
    resumed = with_unconfirmed(rebuild([started(), caller(2, "When are you open?")]), [ANSWER])
    assert resumed.items[-1] == Said("assistant", ANSWER)
    assert not resumed.answer_due
    unchanged = rebuild([started(), caller(2, "When are you open?")])
    assert with_unconfirmed(unchanged, []) == unchanged


def test_a_caller_who_has_not_spoken_is_owed_the_greeting_a_fault_cut() -> None:
    greeting = "Thanks for calling Bella's Bistro, how can I help?"
    assert rebuild([started()]).greeting_due  # the agent died before greeting at all
    cut = rebuild([started(), agent(2, greeting, played_ms=500, produced_ms=3000)])
    assert cut.greeting_due and not cut.caller_spoke
    heard = rebuild([started(), agent(2, greeting, played_ms=3000, produced_ms=3000)])
    assert not heard.greeting_due
    spoke = rebuild(
        [started(), agent(2, greeting, played_ms=500, produced_ms=3000), caller(3, "Hello?")]
    )
    assert spoke.caller_spoke and not spoke.greeting_due and spoke.answer_due


def test_a_reply_the_provider_cut_is_owed_even_when_every_word_it_reached_was_heard() -> None:
    """The link died 1.25 s into the greeting, with all 1.25 s of audio already played: the
    words are whole, but the greeting is not (seen in ``make chaos``: 2.8 s of silence)."""
    cut = AgentTurnEvent(
        seq=2,
        text="Thanks for calling Bella's",
        interrupted=True,
        played_ms=1250,
        produced_ms=1250,
        **_IDS,
    )
    resumed = rebuild([started(), cut])
    assert resumed.items[-1] == Said("assistant", "Thanks for calling Bella's")
    assert resumed.answer_due and resumed.greeting_due
    answered = rebuild([started(), cut, caller(3, "Hi"), agent(4, ANSWER, 5000, 5000)])
    assert not answered.answer_due
