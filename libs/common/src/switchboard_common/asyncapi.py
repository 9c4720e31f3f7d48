"""The bus as an AsyncAPI 3.0.0 document, generated from :mod:`.catalog` and the models.

``docs/asyncapi.yaml`` is this module's output, checked in; a test fails when it is stale.
Operations are written from each service's point of view (``<service>.<send|receive>.<channel>``,
tagged with the service), so the document also says who may publish and subscribe where.
Request-reply uses AsyncAPI 3's ``reply``: the reply travels on the requester's inbox, a channel
without a fixed address. JetStream streams, key-value buckets and nats.micro services have no
AsyncAPI object of their own; they are described under ``x-switchboard-*`` extensions.

Regenerate: ``python -m switchboard_common.asyncapi [--out docs/asyncapi.yaml]`` (``make
docs``); ``--check`` exits 1 with a diff when the file is stale.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from enum import StrEnum
from importlib.metadata import version
from typing import Any

from pydantic import BaseModel

from .catalog import (
    CATALOG,
    AudioPayload,
    Catalog,
    Channel,
    Header,
    KeyValueBucket,
    MicroService,
    Request,
    Service,
    Stream,
)
from .generated import run_cli
from .knowledge import ERROR_CODE_HEADER, ERROR_HEADER

ASYNCAPI_VERSION = "3.0.0"
DEFAULT_OUT = "docs/asyncapi.yaml"
SCHEMAS = "#/components/schemas/"
MESSAGES = "#/components/messages/"
NATS_BINDING_VERSION = "0.1.0"

Document = dict[str, Any]


def _ref(target: str) -> dict[str, str]:
    return {"$ref": target}


def _names(services: Iterable[Service]) -> list[str]:
    return sorted(service.value for service in services)


def _doc_lines(model: type[BaseModel]) -> tuple[str, str]:
    """(summary, description) from the model's own docstring, not an inherited one."""
    doc = inspect.cleandoc(model.__doc__ or "")
    if not doc:
        return f"{model.__name__} (JSON).", ""
    summary, _, rest = doc.partition("\n\n")
    return " ".join(summary.split()), rest.strip()


def _merge(into: dict[str, Any], name: str, value: Any, what: str) -> None:
    if name in into and into[name] != value:
        raise ValueError(f"two different {what} are both named {name!r}")
    into[name] = value


def build_schemas(models: Iterable[type[BaseModel]]) -> dict[str, Any]:
    """Each model's JSON schema under its class name, nested definitions hoisted beside it."""
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=SCHEMAS + "{model}")
        for name, nested in schema.pop("$defs", {}).items():
            _merge(schemas, name, nested, "schemas")
        _merge(schemas, model.__name__, schema, "schemas")
    return schemas


def _headers_schema(headers: Sequence[Header]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [h.name for h in headers],
        "properties": {h.name: {"type": "string", "description": h.description} for h in headers},
    }


def _json_message(model: type[BaseModel], headers: Sequence[Header]) -> dict[str, Any]:
    summary, description = _doc_lines(model)
    message: dict[str, Any] = {
        "name": model.__name__,
        "title": model.__name__,
        "summary": summary,
        "contentType": "application/json",
        "payload": _ref(SCHEMAS + model.__name__),
    }
    if description:
        message["description"] = description
    if headers:
        message["headers"] = _headers_schema(headers)
    return message


def _audio_message(audio: AudioPayload) -> dict[str, Any]:
    layout = "; ".join(f"{name}: {meaning}" for name, meaning in audio.layout)
    return {
        "name": audio.name,
        "title": audio.name,
        "summary": audio.summary,
        "description": audio.description,
        "contentType": "application/octet-stream",
        "payload": {
            "type": "string",
            "format": "binary",
            "minLength": audio.header_size,
            "description": f"Raw bytes, no NATS headers. Layout: {layout}.",
        },
        "x-switchboard-layout": [{"field": name, "meaning": m} for name, m in audio.layout],
    }


def error_message_name(codes: type[StrEnum]) -> str:
    return codes.__name__.removesuffix("Code")


def _error_message(codes: type[StrEnum]) -> dict[str, Any]:
    return {
        "name": error_message_name(codes),
        "title": error_message_name(codes),
        "summary": "A nats.micro error reply: the failure is in the headers, the body is empty.",
        "headers": {
            "type": "object",
            "required": [ERROR_HEADER, ERROR_CODE_HEADER],
            "properties": {
                ERROR_HEADER: {"type": "string", "description": "What went wrong, for a person."},
                ERROR_CODE_HEADER: {
                    "type": "string",
                    "enum": [code.value for code in codes],
                    "description": ", ".join(f"{c.value} = {c.name.lower()}" for c in codes),
                },
            },
        },
        "payload": {"type": "string", "maxLength": 0},
    }


def _reply_names(request: Request) -> list[str]:
    names = [model.__name__ for model in request.replies]
    if request.error_codes is not None:
        names.append(error_message_name(request.error_codes))
    return names


def reply_channel_id(channel: Channel) -> str:
    return f"{channel.id}Reply"


def _channel_messages(channel: Channel) -> list[str]:
    """Names of what is published on the channel itself (replies travel on inboxes)."""
    names = [model.__name__ for model in channel.messages]
    names += [request.message.__name__ for request in channel.requests]
    if channel.audio is not None:
        names.append(channel.audio.name)
    return names


def _channel(channel: Channel) -> dict[str, Any]:
    notes = [f"NATS subscription for every subject of this channel: `{channel.wildcard}`."]
    if channel.filters:
        notes.append("Subscribers may also filter: " + ", ".join(f"`{f}`" for f in channel.filters))
    if channel.queue_group:
        notes.append(f"Subscribers share it in the queue group `{channel.queue_group}`.")
    if channel.stream:
        notes.append(f"Stored in the JetStream stream `{channel.stream}`; read it there.")
    spec: dict[str, Any] = {
        "address": channel.template,
        "title": channel.id,
        "summary": channel.summary,
        "description": "\n".join(notes),
        "messages": {name: _ref(MESSAGES + name) for name in _channel_messages(channel)},
        "x-switchboard": {
            "wildcard": channel.wildcard,
            "filters": list(channel.filters),
            "queueGroup": channel.queue_group,
            "stream": channel.stream,
            "publishers": _names(channel.publishers),
            "subscribers": _names(channel.subscribers),
        },
    }
    if channel.parameters:
        spec["parameters"] = {
            p.name: {"description": p.description, **({"enum": list(p.enum)} if p.enum else {})}
            for p in channel.parameters
        }
    return spec


def _reply_channel(channel: Channel) -> dict[str, Any]:
    names = [name for request in channel.requests for name in _reply_names(request)]
    return {
        "address": None,
        "title": reply_channel_id(channel),
        "summary": f"Replies to {channel.id} requests.",
        "description": "The requester's own inbox (the NATS reply subject of the request).",
        "messages": {name: _ref(MESSAGES + name) for name in dict.fromkeys(names)},
    }


def _channel_refs(channel_id: str, names: Iterable[str]) -> list[dict[str, str]]:
    return [_ref(f"#/channels/{channel_id}/messages/{name}") for name in names]


def _operation(
    service: Service, action: str, channel: Channel, names: list[str], summary: str
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": _ref(f"#/channels/{channel.id}"),
        "summary": summary,
        "messages": _channel_refs(channel.id, names),
        "tags": [{"name": service.value}],
    }
    if action == "receive" and channel.queue_group:
        operation["bindings"] = {
            "nats": {"queue": channel.queue_group, "bindingVersion": NATS_BINDING_VERSION}
        }
    return operation


def _operations(channel: Channel) -> dict[str, Any]:
    operations: dict[str, Any] = {}
    one_way = [model.__name__ for model in channel.messages]
    if channel.audio is not None:
        one_way.append(channel.audio.name)
    via = f" (through the JetStream stream {channel.stream})" if channel.stream else ""
    if one_way:
        for service in sorted(channel.publishers):
            operations[f"{service}.send.{channel.id}"] = _operation(
                service, "send", channel, one_way, f"{service} publishes: {channel.summary}"
            )
        for service in sorted(channel.subscribers):
            operations[f"{service}.receive.{channel.id}"] = _operation(
                service, "receive", channel, one_way, f"{service} reads{via}: {channel.summary}"
            )
    for request in channel.requests:
        name = request.message.__name__
        reply = {
            "channel": _ref(f"#/channels/{reply_channel_id(channel)}"),
            "messages": _channel_refs(reply_channel_id(channel), _reply_names(request)),
        }
        for action, services, who in (
            ("send", channel.publishers, "requests"),
            ("receive", channel.subscribers, "answers"),
        ):
            for service in sorted(services):
                operation = _operation(
                    service, action, channel, [name], f"{service} {who}: {channel.summary}"
                )
                operation["reply"] = reply
                operations[f"{service}.{action}.{channel.id}.{name}"] = operation
    return operations


def _bucket(bucket: KeyValueBucket) -> dict[str, Any]:
    value: dict[str, Any] = (
        _ref(SCHEMAS + bucket.value.__name__) if bucket.value else {"type": "string"}
    )
    return {
        "summary": bucket.summary,
        "key": bucket.key,
        "value": {"description": bucket.value_description, "schema": value},
        "subjects": bucket.subjects,
        "writers": _names(bucket.writers),
        "readers": _names(bucket.readers),
    }


def _stream(stream: Stream) -> dict[str, Any]:
    return {
        "summary": stream.summary,
        "subjects": list(stream.subjects),
        "channels": [_ref(f"#/channels/{channel_id}") for channel_id in stream.channels],
        "managers": _names(stream.managers),
        "readers": _names(stream.readers),
    }


def _micro(service: MicroService) -> dict[str, Any]:
    return {
        "version": service.version,
        "queueGroup": service.queue_group,
        "servedBy": service.served_by.value,
        "endpoints": [_ref(f"#/channels/{channel_id}") for channel_id in service.endpoints],
        "discoverySubjects": list(service.discovery_subjects),
    }


def build_document(catalog: Catalog = CATALOG) -> Document:
    """The AsyncAPI 3.0.0 document of the bus, as plain data."""
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for channel in catalog.channels:
        sent = [*channel.messages, *(request.message for request in channel.requests)]
        for model in sent:
            _merge(messages, model.__name__, _json_message(model, channel.headers), "messages")
        for model in (reply for request in channel.requests for reply in request.replies):
            _merge(messages, model.__name__, _json_message(model, ()), "messages")
        if channel.audio is not None:
            _merge(messages, channel.audio.name, _audio_message(channel.audio), "messages")
        for request in channel.requests:
            if request.error_codes is not None:
                name = error_message_name(request.error_codes)
                _merge(messages, name, _error_message(request.error_codes), "messages")
        channels[channel.id] = _channel(channel)
        if channel.requests:
            channels[reply_channel_id(channel)] = _reply_channel(channel)
        operations.update(_operations(channel))
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Switchboard bus",
            "version": version("switchboard-common"),
            "description": (
                "Every subject on Switchboard's NATS bus: who publishes, who subscribes, and "
                "what travels. Generated from `switchboard_common.catalog`; do not edit by "
                "hand (`make docs`)."
            ),
            "tags": [{"name": service.value} for service in Service],
        },
        "defaultContentType": "application/json",
        "servers": {
            "nats": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "NATS with JetStream; services read the address from NATS_URL.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": build_schemas(catalog.models())},
        "x-switchboard-jetstream": {
            "streams": {stream.name: _stream(stream) for stream in catalog.streams},
            "keyValueBuckets": {bucket.name: _bucket(bucket) for bucket in catalog.kv_buckets},
        },
        "x-switchboard-micro-services": {
            service.name: _micro(service) for service in catalog.micro_services
        },
    }


def render_yaml(document: Document | None = None) -> str:
    """The document as YAML, keys sorted, so the output only changes when the bus does."""
    import yaml  # only the generator needs it (a dev dependency), not the services

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # repeat shared objects in full: readers need no YAML anchors

    return yaml.dump(
        build_document() if document is None else document,
        Dumper=Dumper,
        sort_keys=True,
        allow_unicode=True,
        width=100,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(argv, render_yaml, DEFAULT_OUT, "the bus's AsyncAPI document")


if __name__ == "__main__":
    raise SystemExit(main())
