"""docs/asyncapi.yaml is current, and is a well-formed AsyncAPI 3.0 document.

No copy of the official AsyncAPI 3.0.0 JSON Schema ships in any package we depend on, so the
structure is checked here: every $ref resolves, operations point at channels and at messages of
those channels, parameters match the addresses, and every payload schema is a valid JSON
Schema that accepts real messages and refuses broken ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from switchboard_common import asyncapi
from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.catalog import CATALOG, Service
from switchboard_common.events import AgentTurnEvent
from switchboard_common.knowledge import ERROR_CODE_HEADER, KnowledgeErrorCode, KnowledgeQuery
from switchboard_common.messages import CallOffer, CallRecord, CallState, HangUp

DOC = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.yaml"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return asyncapi.build_document()


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_the_checked_in_document_is_current() -> None:
    assert DOC.exists(), "docs/asyncapi.yaml is missing: run `make docs`"
    assert DOC.read_text(encoding="utf-8") == asyncapi.render_yaml(), (
        "docs/asyncapi.yaml is stale: run `make docs` "
        "(python -m switchboard_common.asyncapi) and commit the result"
    )


def test_the_yaml_reads_back_as_the_document(doc: dict[str, Any]) -> None:
    assert yaml.safe_load(asyncapi.render_yaml(doc)) == doc


def test_required_top_level_fields(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] and re.fullmatch(r"\d+\.\d+\.\d+", doc["info"]["version"])
    assert doc["servers"]["nats"]["protocol"] == "nats"
    extras = set(doc) - {"asyncapi", "info", "servers", "defaultContentType", "channels"}
    extras -= {"operations", "components", "id"}
    assert all(key.startswith("x-") for key in extras), extras


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    found = list(refs(doc))
    assert len(found) > 100
    for ref in found:
        resolve(doc, ref)


def test_channels_have_messages_and_their_parameters(doc: dict[str, Any]) -> None:
    for channel_id, channel in doc["channels"].items():
        assert channel["messages"], f"{channel_id} has no message"
        address = channel["address"]
        if address is None:  # a reply inbox
            assert channel_id.endswith("Reply")
            continue
        placeholders = re.findall(r"{(\w+)}", address)
        assert placeholders == list(channel.get("parameters", {})), channel_id
    assert {c.id for c in CATALOG.channels} <= set(doc["channels"])


def test_operations_use_their_own_channels_messages(doc: dict[str, Any]) -> None:
    services = {service.value for service in Service}
    for op_id, operation in doc["operations"].items():
        assert operation["action"] in ("send", "receive"), op_id
        channel_ref = operation["channel"]["$ref"]
        resolve(doc, channel_ref)
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), op_id
        if "reply" in operation:
            reply_channel = operation["reply"]["channel"]["$ref"]
            for message in operation["reply"]["messages"]:
                assert message["$ref"].startswith(reply_channel + "/messages/"), op_id
        (tag,) = operation["tags"]
        assert tag["name"] in services and op_id.split(".")[0] == tag["name"], op_id


def test_every_publisher_and_subscriber_has_an_operation(doc: dict[str, Any]) -> None:
    by_channel: dict[tuple[str, str], set[str]] = {}
    for operation in doc["operations"].values():
        key = (operation["channel"]["$ref"].rsplit("/", 1)[1], operation["action"])
        by_channel.setdefault(key, set()).add(operation["tags"][0]["name"])
    for channel in CATALOG.channels:
        assert by_channel[(channel.id, "send")] == {s.value for s in channel.publishers}
        assert by_channel[(channel.id, "receive")] == {s.value for s in channel.subscribers}


def test_request_reply_and_queue_groups(doc: dict[str, Any]) -> None:
    offer = doc["operations"]["gateway.send.agentDispatch.CallOffer"]
    assert offer["reply"]["channel"]["$ref"] == "#/channels/agentDispatchReply"
    take = doc["operations"]["agent.receive.agentDispatch.CallOffer"]
    assert take["bindings"]["nats"]["queue"] == "agents"
    clear = doc["operations"]["agent.send.gatewayControl.ClearPlayback"]
    assert [m["$ref"].rsplit("/", 1)[1] for m in clear["reply"]["messages"]] == ["PlaybackPosition"]
    query = doc["operations"]["agent.send.knowledgeQuery.KnowledgeQuery"]
    replies = [m["$ref"].rsplit("/", 1)[1] for m in query["reply"]["messages"]]
    assert replies == ["KnowledgeQueryReply", "KnowledgeError"]
    error = doc["components"]["messages"]["KnowledgeError"]
    codes = error["headers"]["properties"][ERROR_CODE_HEADER]["enum"]
    assert codes == [code.value for code in KnowledgeErrorCode]


def test_audio_is_binary_and_events_carry_their_dedup_header(doc: dict[str, Any]) -> None:
    messages = doc["components"]["messages"]
    for name in ("CallerAudio", "AgentAudioChunk"):
        assert messages[name]["contentType"] == "application/octet-stream"
        assert messages[name]["payload"]["format"] == "binary"
    assert messages["AgentAudioChunk"]["payload"]["minLength"] == 5
    assert "Nats-Msg-Id" in messages["AgentTurnEvent"]["headers"]["properties"]
    assert "headers" not in messages["CallOffer"]


def test_every_catalog_model_has_a_schema_and_a_message_or_bucket(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    messages = doc["components"]["messages"]
    bucket_values = {
        bucket["value"]["schema"].get("$ref", "").rsplit("/", 1)[-1]
        for bucket in doc["x-switchboard-jetstream"]["keyValueBuckets"].values()
    }
    for model in CATALOG.models():
        assert model.__name__ in schemas
        assert model.__name__ in messages or model.__name__ in bucket_values, model.__name__
    assert "$defs" not in str(schemas), "nested definitions must be hoisted"


def validator(doc: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_every_schema_is_a_valid_json_schema(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert len(schemas) >= len(CATALOG.models())
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)  # raises SchemaError


@pytest.mark.parametrize(
    "message",
    [
        CallOffer(call_id="CA1", business_id="acme", gateway_id="gw1", to_number="+15550100"),
        HangUp(call_id="CA1", reason="done"),
        CallRecord(call_id="CA1", business_id="acme", state=CallState.STREAMING, gateway_id="g"),
        AgentTurnEvent(call_id="CA1", business_id="acme", seq=3, text="Hi", played_ms=200),
        KnowledgeQuery(business_id="acme", text="opening hours?"),
        DEMO_BUSINESS,
    ],
    ids=lambda m: type(m).__name__,
)
def test_schemas_accept_real_messages_and_refuse_broken_ones(
    doc: dict[str, Any], message: BaseModel
) -> None:
    check = validator(doc, type(message).__name__)
    wire = message.model_dump(mode="json")
    check.validate(wire)
    token_field = "call_id" if "call_id" in wire else "business_id"
    broken = {**wire, token_field: "not.one.token"}
    assert not check.is_valid(broken)


def test_check_mode_reports_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "asyncapi.yaml"
    assert asyncapi.main(["--out", str(out)]) == 0
    assert asyncapi.main(["--check", "--out", str(out)]) == 0
    out.write_text(out.read_text().replace("sb.call.{call_id}.audio.caller", "sb.old"))
    assert asyncapi.main(["--check", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "+    address: sb.call.{call_id}.audio.caller" in captured.out
    assert "make docs" in captured.err
