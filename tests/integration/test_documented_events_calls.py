"""docs/events.md is the contract for call events: every type it documents is emitted, with
exactly the fields it documents, at the moment it says (issue 14, item 10).

Held, through real processes and the simulators, to what three calls store in the stream
(the document is read as in ``events_doc.py``; its agreement with the typed models is
checked in ``test_documented_events_models.py``):

* a question call to a business with no transfer number: the greeting; the agent is killed as
  the caller starts to speak and the other agent takes the call over; a question answered
  with a tool; a key press; a transfer asked for; a barge-in; the caller hangs up;
* a call the agent ends: a key press, then a goodbye with ``end_call`` in one response;
* a call transferred to a person who answers.

Drift either way fails: a documented field never emitted or an emitted field not documented,
a documented type no call emitted or an emitted type not documented. All the tests share one
module-scoped ``calls`` fixture (the three calls are made once, on one stack), so they stay
in this one module.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import pytest

from switchboard_common.audio import FRAME_MS
from switchboard_sim.call import Utterance
from switchboard_sim.stack import LocalStack

from .conftest import SAMPLES, RunningStack
from .event_calls import (
    AGENTS,
    ASK_MESSAGE,
    ASK_PERSON,
    BARGE_IN_MS,
    CALLER,
    DESK,
    GATEWAY,
    GO_AHEAD,
    GOODBYE,
    HANG_UP_REASON,
    HELPDESK,
    KEY_ANSWER,
    MESSAGE_ARGS,
    MESSAGE_TAKEN,
    ONE_MORE,
    PUT_THROUGH_TO,
    PUTTING_THROUGH,
    SORRY,
    TRANSFER_REASON,
    Calls,
    Heard,
    at,
    long_question,
    place_call,
    question_call,
    question_turns,
    realtime_script,
    stored,
)
from .events_doc import TICKED, disagreements, json_kind, read_doc

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
async def calls(tmp_path_factory: pytest.TempPathFactory) -> Calls:
    """The three calls, on one stack with two agents (one of them is killed), already over:
    no process is left when the tests look at what was stored."""
    tmp = tmp_path_factory.mktemp("documented-events")
    (tmp / "script.json").write_text(json.dumps(realtime_script()))
    businesses = [b.model_dump(mode="json") for b in (DESK, HELPDESK)]
    (tmp / "businesses.json").write_text(json.dumps(businesses))
    env = {"SWITCHBOARD_BUSINESSES_FILE": str(tmp / "businesses.json")}
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=tmp / "script.json")
        await stack.start_twilio_rest()
        started = await asyncio.gather(*(stack.start_agent(name, **env) for name in AGENTS))
        system = RunningStack(stack, await stack.start_gateway(GATEWAY, **env))
        asked_turns = question_turns(long_question(tmp / "ask.wav"))
        agents = {child.name: child for child in started}
        asked, lost, new, killed_at = await question_call(system, agents, asked_turns)
        hung_up, put_through = await asyncio.gather(
            place_call(system, DESK.phone_numbers[0], [{"dtmf": "9"}, {"expect_hangup": True}]),
            place_call(
                system,
                HELPDESK.phone_numbers[0],
                [{"dtmf": "0"}, {"expect_transfer": PUT_THROUGH_TO}],
            ),
        )
        _, asked_later = await stored(stack.nats_url, asked.result.call_sid)
    speech_ms = {
        number: (Utterance.from_wav(SAMPLES / turn["wav"]).speech_end + 1) * FRAME_MS
        for number, turn in enumerate(asked_turns, 1)
        if "wav" in turn
    }
    return Calls(asked, hung_up, put_through, lost, new, killed_at, speech_ms, asked_later)


def _all(calls: Calls) -> list[Heard]:
    return [calls.asked, calls.hung_up, calls.put_through]


# --- every event: the documented fields, subject and numbering ------------------------------


def test_every_stored_event_has_exactly_the_documented_fields(calls: Calls) -> None:
    doc = read_doc()
    found = [
        f"{heard.result.call_sid} #{event.get('seq')} {event.get('type')}: {problem}"
        for heard in _all(calls)
        for event in heard.events
        for problem in disagreements(event, doc)
    ]
    assert found == []
    usage_fields = doc.values_in("call_ended", "`usage` has")
    for heard in _all(calls):
        (ended,) = heard.of("call_ended")
        assert ended["usage"] is not None, "the simulator reports usage: it must be stored"
        assert list(ended["usage"]) == usage_fields
        assert all(json_kind(value) == "integer" for value in ended["usage"].values())


def test_every_documented_type_is_emitted_and_nothing_else(calls: Calls) -> None:
    emitted = {event["type"] for heard in _all(calls) for event in heard.events}
    assert emitted == set(read_doc().types)


def test_subjects_numbering_and_times_are_as_documented(calls: Calls) -> None:
    doc = read_doc()
    business = {
        calls.asked.result.call_sid: DESK.business_id,
        calls.hung_up.result.call_sid: DESK.business_id,
        calls.put_through.result.call_sid: HELPDESK.business_id,
    }
    for heard in _all(calls):
        call_id = heard.result.call_sid
        assert [e["seq"] for e in heard.events] == list(range(1, len(heard.events) + 1))
        for subject, event in zip(heard.subjects, heard.events, strict=True):
            assert (event["v"], event["call_id"], event["business_id"]) == (
                1,
                call_id,
                business[call_id],
            )
            expected = (
                doc.subject.replace("<business_id>", event["business_id"])
                .replace("<call_id>", call_id)
                .replace("<type>", event["type"])
            )
            assert subject == expected
            # ISO 8601 in UTC, as the document's example writes it.
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", event["at"])
        times = [at(e) for e in heard.events]
        assert times == sorted(times), "stored in the order they happened"


# --- each type at its documented moment ----------------------------------------------------


def test_call_started_is_first_once_the_media_stream_is_open(calls: Calls) -> None:
    """ "The agent took the call and the media stream is open." Normally the first event."""
    for heard, business in (
        (calls.asked, DESK),
        (calls.hung_up, DESK),
        (calls.put_through, HELPDESK),
    ):
        (started,) = heard.of("call_started")
        assert started is heard.events[0]
        assert at(started) >= heard.when("media stream connected")
        assert (started["from_number"], started["to_number"]) == (
            CALLER,
            business.phone_numbers[0],
        )
        assert started["agent_id"] in AGENTS and started["gateway_id"] == GATEWAY
    assert calls.asked.events[0]["agent_id"] == calls.lost_agent


def test_call_resumed_when_another_agent_took_the_lost_agent_s_call_over(calls: Calls) -> None:
    """Written by the new agent once it has the call; the same call, one story: seq goes on,
    one call_started, one call_ended."""
    heard = calls.asked
    (resumed,) = heard.of("call_resumed")
    before = heard.events[: resumed["seq"] - 1]
    assert at(resumed) > calls.killed_at >= max(at(e) for e in before)
    assert [e["type"] for e in before] == ["call_started", "agent_turn"]  # greeting heard
    assert (resumed["agent_id"], resumed["previous_agent_id"]) == (
        calls.new_agent,
        calls.lost_agent,
    )
    assert (resumed["epoch"], resumed["reason"]) == (2, "agent_lost")
    # What the caller was saying when the agent died is heard by the new one, after it.
    assert heard.after(resumed)["type"] == "caller_turn"
    assert [e["type"] for e in heard.events].count("call_started") == 1
    assert {"call_resumed", "call_ended"} <= {e["type"] for e in calls.asked_later}


def test_caller_turn_is_each_utterance_s_final_transcript_once_it_ended(calls: Calls) -> None:
    heard = calls.asked
    turns = heard.of("caller_turn")
    assert [t["text"] for t in turns] == [ASK_MESSAGE, ASK_PERSON, ONE_MORE]
    for turn, number in zip(turns, (1, 3, 4), strict=True):
        said = f"turn {number}: caller says"
        speech = timedelta(milliseconds=calls.speech_ms[number])
        assert at(turn) > heard.when(said) + speech, (turn, said)
        assert turn["item_id"], "the simulator names its items"


def test_agent_turn_is_written_once_the_caller_heard_it_or_cut_it(calls: Calls) -> None:
    """Each reply's transcript, final once it is known how much of it the caller heard: all
    of it (``played_ms`` = ``produced_ms``, written once that much audio has played), or up to
    where they talked over it (``interrupted``)."""
    heard = calls.asked
    greeting, taken, keyed, sorry, go_ahead = heard.of("agent_turn")
    whole = (greeting, taken, keyed, go_ahead)
    assert [r["text"] for r in whole] == [DESK.greeting, MESSAGE_TAKEN, KEY_ANSWER, GO_AHEAD]
    for reply in whole:
        assert not reply["interrupted"] and reply["played_ms"] == reply["produced_ms"] > 0
        # Its audio started after what it answers (the event before it), and played in real
        # time; a little slack for the two processes' clocks.
        answered = heard.events[reply["seq"] - 2]
        heard_through = at(answered) + timedelta(milliseconds=reply["produced_ms"] - 100)
        assert at(reply) >= heard_through, (reply, answered)
    # Cut: the caller talked BARGE_IN_MS into it; it is final before their turn is.
    assert sorry["interrupted"] and SORRY.startswith(sorry["text"])
    assert BARGE_IN_MS <= sorry["played_ms"] < sorry["produced_ms"]
    assert heard.when("turn 4: caller says") < at(sorry)
    assert heard.after(sorry)["type"] == "caller_turn"
    # latency_ms: none for the greeting and the answer to a key, even one that went through a
    # tool; an answer to speech has one, whether or not it went through a tool.
    (_, through) = calls.put_through.of("agent_turn")
    assert through["text"] == PUTTING_THROUGH
    assert [r["latency_ms"] for r in (greeting, keyed, through)] == [None, None, None]
    assert all(r["latency_ms"] > 0 for r in (taken, sorry, go_ahead))
    # A goodbye said in the same response as end_call: written once heard, after the tool.
    heard = calls.hung_up
    (_, goodbye) = heard.of("agent_turn")
    (tool,) = heard.of("tool_called")
    assert goodbye["text"] == GOODBYE and goodbye["played_ms"] == goodbye["produced_ms"]
    assert tool["seq"] < goodbye["seq"] and heard.after(goodbye)["type"] == "call_ended"


def test_tool_called_between_the_question_and_the_answer_that_uses_it(calls: Calls) -> None:
    """Written when the tool has run, before the model is asked to answer with its result."""
    heard = calls.asked
    taken, transfer_tool = heard.of("tool_called")
    assert heard.events[taken["seq"] - 2]["text"] == ASK_MESSAGE
    assert heard.after(taken)["text"] == MESSAGE_TAKEN
    assert (taken["name"], json.loads(taken["arguments"]), taken["ok"]) == (
        "take_message",
        MESSAGE_ARGS,
        True,
    )
    assert json.loads(taken["output"])["status"] == "delivered"
    assert 0 <= taken["latency_ms"] < 1000
    assert (transfer_tool["name"], transfer_tool["ok"]) == ("transfer_call", True)
    assert json.loads(transfer_tool["output"])["status"] == "unavailable"
    sorry = heard.after(transfer_tool)
    assert sorry["type"] == "agent_turn" and SORRY.startswith(sorry["text"])


def test_dtmf_follows_the_key_press_and_is_answered(calls: Calls) -> None:
    for heard, digit, then in (
        (calls.asked, "1", "agent_turn"),
        (calls.hung_up, "9", "tool_called"),
        (calls.put_through, "0", "tool_called"),
    ):
        (key,) = heard.of("dtmf")
        assert key["digit"] == digit
        assert at(key) >= heard.when(f"caller presses {digit}")
        assert heard.after(key)["type"] == then
    (key,) = calls.asked.of("dtmf")
    assert calls.asked.after(key)["text"] == KEY_ANSWER


def test_transfer_is_written_when_its_outcome_is_known(calls: Calls) -> None:
    """No transfer number: ``ok`` false "at once", while the tool runs, with the documented
    reason. A person who answers: ``ok`` true once they have, with the model's reason."""
    documented_reasons = TICKED.findall(read_doc().types["transfer"].fields["reason"].meaning)
    heard = calls.asked
    (failed,) = heard.of("transfer")
    asked = heard.events[failed["seq"] - 2]
    assert (asked["type"], asked["text"]) == ("caller_turn", ASK_PERSON)
    assert at(failed) - at(asked) < timedelta(seconds=1)
    assert (failed["to_number"], failed["ok"]) == ("", False)
    assert failed["reason"] in documented_reasons
    assert heard.after(failed)["name"] == "transfer_call"

    heard = calls.put_through
    (answered,) = heard.of("transfer")
    assert (answered["to_number"], answered["ok"], answered["reason"]) == (
        PUT_THROUGH_TO,
        True,
        TRANSFER_REASON,
    )
    assert heard.result.dial_status == "completed"
    assert at(answered) >= heard.when("<Number statusCallback>")  # Twilio: the person answered
    (said,) = [r for r in heard.of("agent_turn") if r["text"] == PUTTING_THROUGH]
    assert said["seq"] < answered["seq"] and heard.after(answered)["type"] == "call_ended"


def test_call_ended_is_last_with_why_and_the_call_s_counts(calls: Calls) -> None:
    reasons = read_doc().values_in("call_ended", "Values of `reason` seen today")
    for heard, reason, detail in (
        (calls.asked, "caller_hung_up", ""),
        (calls.hung_up, "agent_hung_up", HANG_UP_REASON),
        (calls.put_through, "transferred", TRANSFER_REASON),
    ):
        (ended,) = heard.of("call_ended")
        assert ended is heard.events[-1]
        assert (ended["reason"], ended["detail"]) == (reason, detail)
        assert reason in reasons
        assert ended["caller_turns"] == len(heard.of("caller_turn"))
        assert ended["agent_turns"] == len(heard.of("agent_turn"))
        lasted = (at(ended) - at(heard.events[0])).total_seconds()
        assert abs(ended["duration_s"] - lasted) < 1.0, (ended["duration_s"], lasted)
    assert at(calls.asked.events[-1]) >= calls.asked.when("caller hangs up")
    # Nothing for a call after its call_ended (read again once the other two calls were over).
    assert calls.asked_later == calls.asked.events
