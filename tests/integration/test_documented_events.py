"""docs/events.md is the contract for call events: every type it documents is emitted, with
exactly the fields it documents, at the moment it says (issue 14, item 10).

The document is read as a consumer reads it: the types listed under "Subjects" and headed
under "Event types", each type's field table (JSON types, defaults) and JSON example, and
"Fields every event carries". It is held to the typed models in ``switchboard_common.events``
and, through real processes and the simulators, to what three calls store in the stream:

* a question call to a business with no transfer number: the greeting; the agent is killed as
  the caller starts to speak and the other agent takes the call over; a question answered
  with a tool; a key press; a transfer asked for; a barge-in; the caller hangs up;
* a call the agent ends: a key press, then a goodbye with ``end_call`` in one response;
* a call transferred to a person who answers.

Drift either way fails: a documented field never emitted or an emitted field not documented,
a documented type no call emitted or an emitted type not documented.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, get_args

import nats
import pytest
from nats.js.api import DeliverPolicy

from switchboard_agent.resume import keypress_text
from switchboard_common.audio import FRAME_BYTES, FRAME_MS, ULAW_SILENCE
from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.events import (
    EVENT_MODELS,
    STREAM_NAME,
    CallEventBase,
    EventType,
    TokenUsage,
    any_call_event_adapter,
    call_events,
)
from switchboard_common.messages import CallRecord, CallState
from switchboard_sim.call import (
    CallResult,
    CallSimulator,
    Scenario,
    Utterance,
    read_wav_ulaw,
    write_ulaw_wav,
)
from switchboard_sim.call.audio import is_speech
from switchboard_sim.stack import Child, LocalStack

from .call_probes import events_to_the_end, record_when
from .conftest import SAMPLES, RunningStack, scenario_dict

pytestmark = pytest.mark.timeout(120)

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"

# --- the document, read as a consumer reads it ---------------------------------------------

JSON_TYPES = frozenset({"string", "integer", "number", "boolean", "object", "null"})
ROW = re.compile(r"^\|\s*`(?P<name>\w+)`\s*\|\s*(?P<type>[^|]+?)\s*\|\s*(?P<meaning>.*?)\s*\|\s*$")
DEFAULT = re.compile(r"\(default `(?P<value>[^`]*)`\)")
TICKED = re.compile(r"`([^`]+)`")
EXAMPLE = re.compile(r"```json\n(?P<body>.*?)```", re.S)
NO_DEFAULT = object()


@dataclass(frozen=True)
class DocField:
    name: str
    json_types: frozenset[str]
    #: The documented default (JSON), or NO_DEFAULT: the field is always there.
    default: Any
    meaning: str


@dataclass(frozen=True)
class DocType:
    name: str
    fields: dict[str, DocField]
    example: dict[str, Any]
    #: The section's text (what it says about when the event is written, its values).
    text: str


@dataclass(frozen=True)
class EventsDoc:
    common: dict[str, DocField]
    types: dict[str, DocType]
    #: The types the "Subjects" section lists, in its order.
    listed: list[str]
    #: Where each event is published: ``sb.events.<business_id>.<call_id>.<type>``.
    subject: str

    def fields_of(self, event_type: str) -> dict[str, DocField]:
        return {**self.common, **self.types[event_type].fields}

    def values_in(self, event_type: str, sentence: str) -> list[str]:
        """The quoted values listed after the colon of the paragraph of a type's section that
        starts with ``sentence`` (say, the reasons a call ends with)."""
        text = self.types[event_type].text
        start = text.index(sentence)
        end = text.find("\n\n", start)
        paragraph = text[start : end if end >= 0 else None]
        return TICKED.findall(paragraph.split(":", 1)[1])


def _sections(text: str, marker: str) -> dict[str, str]:
    """The text under each heading that starts with ``marker`` (``## `` or ``### ``)."""
    parts = re.split(rf"^{marker}(.+)$", text, flags=re.M)
    titles, bodies = parts[1::2], parts[2::2]
    return {title.strip().strip("`"): body for title, body in zip(titles, bodies, strict=True)}


def _table(body: str) -> dict[str, DocField]:
    fields: dict[str, DocField] = {}
    for line in body.splitlines():
        row = ROW.match(line)
        if row is None:
            continue
        kinds = frozenset(kind.strip() for kind in row["type"].split(" or "))
        assert kinds <= JSON_TYPES, f"`{row['name']}`: unknown JSON type {row['type']!r}"
        default = DEFAULT.search(row["meaning"])
        assert row["name"] not in fields, f"`{row['name']}` is documented twice"
        fields[row["name"]] = DocField(
            name=row["name"],
            json_types=kinds,
            default=json.loads(default["value"]) if default else NO_DEFAULT,
            meaning=row["meaning"],
        )
    return fields


@cache
def read_doc() -> EventsDoc:
    text = DOC.read_text()
    chapters = _sections(text, "## ")
    types: dict[str, DocType] = {}
    for name, body in _sections(chapters["Event types"], "### ").items():
        example = EXAMPLE.search(body)
        assert example is not None, f"`{name}` has no JSON example"
        types[name] = DocType(name, _table(body), json.loads(example["body"]), body)
    listed = re.search(r"^\* `type` — [^(]*\((?P<names>[^)]*)\)", text, re.M)
    subject = re.search(r"Every event is published on\s*```\s*(?P<subject>\S+)\s*```", text)
    assert listed is not None and subject is not None, "the Subjects section changed shape"
    return EventsDoc(
        common=_table(chapters["Fields every event carries"]),
        types=types,
        listed=TICKED.findall(listed["names"]),
        subject=subject["subject"],
    )


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", dict: "object", list: "array"}[type(value)]


def fits(value: Any, field: DocField) -> bool:
    """A JSON value of one of the field's documented types (an integer is a number)."""
    kind = json_kind(value)
    return kind in field.json_types or (kind == "integer" and "number" in field.json_types)


def disagreements(event: dict[str, Any], doc: EventsDoc) -> list[str]:
    """Where one event (as JSON) and the document disagree: fields missing, undocumented, or of
    another JSON type."""
    documented = doc.fields_of(event["type"])
    found = [f"`{name}` is documented but missing" for name in documented.keys() - event.keys()]
    found += [f"`{name}` is not documented" for name in event.keys() - documented.keys()]
    found += [
        f"`{name}` = {event[name]!r} is not {' or '.join(sorted(field.json_types))}"
        for name, field in documented.items()
        if name in event and not fits(event[name], field)
    ]
    return found


def _schema_types(prop: dict[str, Any]) -> frozenset[str]:
    """The JSON types a pydantic field's JSON schema allows."""
    if "anyOf" in prop:
        return frozenset().union(*(_schema_types(option) for option in prop["anyOf"]))
    if "$ref" in prop:
        return frozenset({"object"})
    return frozenset({prop["type"]})


# --- the document against itself and against the typed models ------------------------------


def test_the_document_names_the_same_types_everywhere_and_the_models_match() -> None:
    doc = read_doc()
    headed = list(doc.types)
    assert len(set(headed)) == len(headed), headed
    assert doc.listed == headed, "the Subjects list and the Event types headings differ"
    assert set(headed) == set(get_args(EventType)) == set(EVENT_MODELS)
    assert doc.subject == "sb.events.<business_id>.<call_id>.<type>"


def test_each_documented_field_is_a_model_field_of_that_json_type_and_default() -> None:
    doc = read_doc()
    for event_type, model in EVENT_MODELS.items():
        schema = model.model_json_schema(mode="serialization")["properties"]
        documented = doc.fields_of(event_type)
        assert set(documented) == set(schema), (event_type, set(documented) ^ set(schema))
        for name, field in documented.items():
            assert _schema_types(schema[name]) == field.json_types, (event_type, name)
            if field.default is not NO_DEFAULT:
                assert schema[name].get("default", NO_DEFAULT) == field.default, (event_type, name)
    base = set(CallEventBase.model_fields) | {"type"}
    assert set(doc.common) == base


def test_each_example_is_a_complete_event_of_its_type() -> None:
    doc = read_doc()
    for event_type, documented in doc.types.items():
        example = documented.example
        assert example["type"] == event_type
        assert disagreements(example, doc) == [], event_type
        parsed = any_call_event_adapter.validate_python(example)
        assert parsed.model_dump(mode="json").keys() == example.keys()
    usage = doc.types["call_ended"].example["usage"]
    assert (
        doc.values_in("call_ended", "`usage` has") == list(usage) == list(TokenUsage.model_fields)
    )


# --- the calls -----------------------------------------------------------------------------

GATEWAY = "gw-events"
AGENTS = ("agent-events-1", "agent-events-2")
CALLER = "+15557777"
#: A business with no transfer number, and one whose number a person answers.
DESK = DEMO_BUSINESS.model_copy(
    update={
        "business_id": "events-desk",
        "greeting": "Events desk, hello.",
        "transfer_number": None,
    }
)
PUT_THROUGH_TO = "+15550999"
HELPDESK = DEMO_BUSINESS.model_copy(
    update={
        "business_id": "events-helpdesk",
        "phone_numbers": ["+15550200"],
        "greeting": "Helpdesk, hello.",
        "transfer_number": PUT_THROUGH_TO,
        "transfer_timeout_s": 5,
    }
)
#: What the caller says (the Realtime simulator's n-th caller segment is its script's n-th).
ASK_MESSAGE = "Could you take a message for the manager?"
ASK_PERSON = "Can I speak to a person?"
ONE_MORE = "Sorry, one more thing."
MESSAGE_ARGS = {"caller_name": "Sam", "message": "Please call Sam back."}
MESSAGE_TAKEN = "Done, the manager will call you back."
KEY_ANSWER = "You pressed one."
#: Long enough for the caller to cut it 700 ms in.
SORRY = (
    "I'm sorry, nobody can take your call just now, but I can take a message for the "
    "manager instead, or help you myself."
)
GO_AHEAD = "Of course, go ahead."
GOODBYE = "Goodbye!"
HANG_UP_REASON = "the caller pressed 9 to leave"
TRANSFER_REASON = "the caller pressed 0 for a person"
PUTTING_THROUGH = "Putting you through."
BARGE_IN_MS = 700


def _script() -> dict[str, Any]:
    def tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "arguments": arguments}

    return {
        "turns": [
            {
                "caller": ASK_MESSAGE,
                "tool": tool("take_message", MESSAGE_ARGS),
                "agent_after_tool": MESSAGE_TAKEN,
            },
            {
                "caller": ASK_PERSON,
                "tool": tool("transfer_call", {"reason": "wants a person"}),
                "agent_after_tool": SORRY,
            },
            {"caller": ONE_MORE, "agent": GO_AHEAD},
            # Key presses reach the model as text, matched by it.
            {"caller": keypress_text("1"), "agent": KEY_ANSWER},
            {
                "caller": keypress_text("9"),
                "agent": GOODBYE,
                "tool": tool("end_call", {"reason": HANG_UP_REASON}),
                "agent_after_tool": "This line is never said.",
            },
            {
                "caller": keypress_text("0"),
                "tool": tool("transfer_call", {"reason": TRANSFER_REASON}),
                "agent_after_tool": PUTTING_THROUGH,
            },
        ]
    }


def _long_question(path: Path) -> Path:
    """Two sample questions run together (about 4.5 s of speech, no pause the model's
    turn detection would end a turn on): the agent is killed as it starts, and the agent that
    takes the call over must still hear enough of it to answer."""
    speech = b""
    for name in ("turn2_message.wav", "turn1_opening_hours.wav"):
        audio = read_wav_ulaw(SAMPLES / name)
        frames = [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
        spoken = [i for i, frame in enumerate(frames) if is_speech(frame)]
        speech += b"".join(frames[spoken[0] : spoken[-1] + 1])
        speech += bytes([ULAW_SILENCE]) * (FRAME_BYTES * 5)
    write_ulaw_wav(path, speech)
    return path


@dataclass
class Heard:
    """One call as the caller lived it and as the stream stored it."""

    result: CallResult
    #: The call simulator's log lines, each with when it was written.
    lines: list[tuple[datetime, str]]
    #: The stored events as JSON, in stream order, with the subject of each.
    events: list[dict[str, Any]]
    subjects: list[str]

    def when(self, words: str) -> datetime:
        """When the caller's log first said ``words``."""
        return next(at for at, line in self.lines if words in line)

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == event_type]

    def after(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event stored next."""
        return self.events[event["seq"]]


@dataclass
class Calls:
    asked: Heard
    hung_up: Heard
    put_through: Heard
    #: The agent killed during the question call, the one that took it over, and when.
    lost_agent: str
    new_agent: str
    killed_at: datetime
    #: How long the question call's caller spoke in each turn that speaks, by turn number.
    speech_ms: dict[int, int]
    #: The question call's events read again once the other two calls were over.
    asked_later: list[dict[str, Any]]


def at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["at"])


async def stored(nats_url: str, call_id: str) -> tuple[list[str], list[dict[str, Any]]]:
    """A call's events once its ``call_ended`` is in, replayed as docs/events.md says (an
    ordered consumer from the start, up to the message with nothing pending): the subject
    and the JSON of each, untouched by any model."""
    await events_to_the_end(nats_url, call_id)
    nc = await nats.connect(nats_url)
    subjects: list[str] = []
    events: list[dict[str, Any]] = []
    try:
        sub = await nc.jetstream().subscribe(
            call_events(call_id),
            stream=STREAM_NAME,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        async with asyncio.timeout(10):
            while True:
                msg = await sub.next_msg(timeout=None)
                subjects.append(msg.subject)
                events.append(json.loads(msg.data))
                if msg.metadata.num_pending == 0:
                    break
        await sub.unsubscribe()
    finally:
        await nc.close()
    return subjects, events


def _recorder(
    mark: str | None = None, marked: asyncio.Event | None = None
) -> tuple[list[tuple[datetime, str]], Callable[[str], None]]:
    lines: list[tuple[datetime, str]] = []

    def log(line: str) -> None:
        lines.append((datetime.now(UTC), line))
        if mark is not None and marked is not None and mark in line:
            marked.set()

    return lines, log


async def _heard(
    system: RunningStack, result: CallResult, lines: list[tuple[datetime, str]]
) -> Heard:
    assert result.ok, result.summary() + "\n" + "\n".join(result.log)
    subjects, events = await stored(system.stack.nats_url, result.call_sid)
    return Heard(result, lines, events, subjects)


async def _call(system: RunningStack, to_number: str, turns: list[dict[str, Any]]) -> Heard:
    lines, log = _recorder()
    config = system.call_config(to_number=to_number, from_number=CALLER, log=log)
    scenario = Scenario.from_dict(scenario_dict(turns), base_dir=SAMPLES)
    return await _heard(system, await CallSimulator(config).run(scenario), lines)


def _question_turns(question: Path) -> list[dict[str, Any]]:
    return [
        {"say": ASK_MESSAGE, "wav": str(question)},
        {"dtmf": "1"},
        {"say": ASK_PERSON, "wav": "turn1_opening_hours.wav"},
        {"say": ONE_MORE, "wav": "turn3_one_more_thing.wav", "after": {"barge_in_ms": BARGE_IN_MS}},
        {"hangup": True},
    ]


async def _question_call(
    system: RunningStack, agents: dict[str, Child], turns: list[dict[str, Any]]
) -> tuple[Heard, str, str, datetime]:
    """The question call; its agent is killed (SIGKILL, a crash) as the caller starts to ask."""
    speaking = asyncio.Event()
    lines, log = _recorder("turn 1: caller says", speaking)
    config = system.call_config(to_number=DESK.phone_numbers[0], from_number=CALLER, log=log)
    scenario = Scenario.from_dict(scenario_dict(turns), base_dir=SAMPLES)
    run = asyncio.create_task(CallSimulator(config).run(scenario))
    waiting = asyncio.create_task(speaking.wait())
    try:

        def streaming(record: CallRecord) -> bool:
            return record.state == CallState.STREAMING and record.agent_id is not None

        record = await record_when(system.stack.nats_url, config.call_sid, streaming, "streaming")
        lost = str(record.agent_id)
        (new,) = set(agents) - {lost}
        done, _ = await asyncio.wait(
            {run, waiting}, timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        assert waiting in done, "the caller never started to speak:\n" + "\n".join(
            line for _, line in lines
        )
        killed_at = datetime.now(UTC)
        await agents[lost].kill()
        result = await run
    finally:
        for task in (run, waiting):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return await _heard(system, result, lines), lost, new, killed_at


@pytest.fixture(scope="module")
async def calls(tmp_path_factory: pytest.TempPathFactory) -> Calls:
    """The three calls, on one stack with two agents (one of them is killed), already over:
    no process is left when the tests look at what was stored."""
    tmp = tmp_path_factory.mktemp("documented-events")
    (tmp / "script.json").write_text(json.dumps(_script()))
    businesses = [b.model_dump(mode="json") for b in (DESK, HELPDESK)]
    (tmp / "businesses.json").write_text(json.dumps(businesses))
    env = {"SWITCHBOARD_BUSINESSES_FILE": str(tmp / "businesses.json")}
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=tmp / "script.json")
        await stack.start_twilio_rest()
        started = await asyncio.gather(*(stack.start_agent(name, **env) for name in AGENTS))
        system = RunningStack(stack, await stack.start_gateway(GATEWAY, **env))
        asked_turns = _question_turns(_long_question(tmp / "ask.wav"))
        agents = {child.name: child for child in started}
        asked, lost, new, killed_at = await _question_call(system, agents, asked_turns)
        hung_up, put_through = await asyncio.gather(
            _call(system, DESK.phone_numbers[0], [{"dtmf": "9"}, {"expect_hangup": True}]),
            _call(
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
