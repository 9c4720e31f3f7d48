"""docs/events.md is the contract other teams read: it must say what the code does.

Every event model's fields are in the document's table for that type (and nothing else is),
every example JSON is a valid event of the section's type, and the stream facts match."""

from __future__ import annotations

import json
import re
from pathlib import Path

from switchboard_common import event_stream
from switchboard_common.events import (
    ALL_EVENTS,
    EVENT_MODELS,
    MSG_ID_HEADER,
    STREAM_NAME,
    CallEventBase,
    TokenUsage,
    any_call_event_adapter,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "events.md"
ENVELOPE = {"v", "type", *CallEventBase.model_fields}


def sections() -> dict[str, str]:
    """Event type → the text of its ``### `type` `` section."""
    text = DOC.read_text()
    parts = re.split(r"^### `([a-z_]+)`\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def table_fields(text: str) -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))


def test_every_event_type_is_documented_with_exactly_its_fields() -> None:
    documented = sections()
    assert set(documented) == set(EVENT_MODELS)
    for name, model in EVENT_MODELS.items():
        own = set(model.model_fields) - ENVELOPE
        assert table_fields(documented[name]) == own, name


def test_the_common_fields_table_lists_the_envelope() -> None:
    text = DOC.read_text()
    common = text.split("## Fields every event carries", 1)[1].split("\n## ", 1)[0]
    assert table_fields(common) == ENVELOPE


def test_every_example_is_a_valid_event_of_its_section() -> None:
    for name, text in sections().items():
        examples = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
        assert len(examples) == 1, name
        raw = json.loads(examples[0])
        event = any_call_event_adapter.validate_python(raw)
        assert event.type == name
        # The example shows every field the model would write.
        assert set(raw) == set(json.loads(event.model_dump_json())), name


def test_usage_fields_are_documented() -> None:
    ended = sections()["call_ended"]
    for field in TokenUsage.model_fields:
        assert f"`{field}`" in ended


def test_stream_facts_match_the_code() -> None:
    text = DOC.read_text()
    assert f"`{STREAM_NAME}`" in text
    assert f"`{ALL_EVENTS}`" in text
    assert f"`{MSG_ID_HEADER}: <call_id>:<seq>`" in text
    assert f"{event_stream.DEFAULT_DUPLICATE_WINDOW_S:.0f} s" in text
    assert f"`{event_stream.DEFAULT_RETENTION_S:.0f}` s" in text
    for env in ("EVENTS_RETENTION_S", "EVENTS_DUPLICATE_WINDOW_S", "EVENTS_REPLICAS"):
        assert env in text
