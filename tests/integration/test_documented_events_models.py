"""docs/events.md against itself and against the typed models in ``switchboard_common.events``
(issue 14, item 10): the "Subjects" list and the "Event types" headings name the same types as
the models; each documented field is a model field of that JSON type and default, and the
common fields are the base model's; each JSON example is a complete event of its type. No
process runs: drift between the document and the code fails here before any call is made
(what real calls store is held to the document in ``test_documented_events_calls.py``).
"""

from __future__ import annotations

from typing import Any, get_args

import pytest

from switchboard_common.events import (
    EVENT_MODELS,
    CallEventBase,
    EventType,
    TokenUsage,
    any_call_event_adapter,
)

from .events_doc import NO_DEFAULT, disagreements, read_doc

pytestmark = pytest.mark.timeout(120)


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
