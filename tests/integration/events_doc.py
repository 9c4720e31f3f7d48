"""docs/events.md read as a consumer reads it: the types listed under "Subjects" and headed
under "Event types", each type's field table (JSON types, defaults) and JSON example, and
"Fields every event carries"; and where one event (as JSON) and the document disagree.
Shared by the documented-events tests (``test_documented_events_*.py``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"

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
