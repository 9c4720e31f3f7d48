"""The bus catalog must match the code: every subject covered, every message placed, every
service's use of a subject declared (permissions will be derived from it)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import typing
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

import switchboard_common
from switchboard_common import events, knowledge, messages, subjects
from switchboard_common.catalog import CATALOG, Channel, Parameter, Service

ROOT = Path(__file__).resolve().parents[3]
#: Constants of subjects.py that are prefixes, not subjects anyone uses.
PREFIXES = {"ROOT", "EVENTS_ROOT"}
SERVICE_SOURCES = {
    Service.GATEWAY: ROOT / "services" / "media-gateway" / "src",
    Service.AGENT: ROOT / "services" / "agent" / "src",
    Service.KNOWLEDGE: ROOT / "services" / "knowledge" / "src",
}


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, ``>`` one or more at the end."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


def subject_functions() -> dict[str, Callable[..., str]]:
    """Every public function of subjects.py that builds a subject (all but ``render``)."""
    found = {
        name: fn
        for name, fn in inspect.getmembers(subjects, inspect.isfunction)
        if fn.__module__ == subjects.__name__ and not name.startswith("_") and name != "render"
    }
    assert found, "no subject functions found: has subjects.py moved?"
    return found


def sample_tokens(fn: Callable[..., str]) -> dict[str, str]:
    return {name: f"x-{name}" for name in inspect.signature(fn).parameters}


def rendered(template: str, tokens: dict[str, str]) -> str | None:
    """The template filled from ``tokens``; None when a placeholder has no token."""
    names = set(re.findall(r"{(\w+)}", template))
    if not names <= tokens.keys():
        return None
    return subjects.render(template, **{name: tokens[name] for name in names})


def channels_producing(subject: str, tokens: dict[str, str]) -> list[str]:
    """Channels whose subject, or one of whose filters, renders to ``subject``."""
    found = []
    for channel in CATALOG.channels:
        forms = [channel.template, *channel.filters]
        if any(rendered(form, tokens) == subject for form in forms):
            found.append(channel.id)
    return found


@pytest.mark.parametrize("name", sorted(subject_functions()))
def test_every_subject_function_is_covered_by_a_channel(name: str) -> None:
    fn = subject_functions()[name]
    tokens = sample_tokens(fn)
    subject = fn(**tokens)
    assert channels_producing(subject, tokens), (
        f"subjects.{name}() gives {subject!r}, which no channel of catalog.py declares: add "
        "a Channel (or a filter of one) so the AsyncAPI document and permissions include it"
    )


@pytest.mark.parametrize(
    ("fn", "kwargs"),
    [
        (events.event_subject, {"business_id": "b", "call_id": "c", "event_type": "dtmf"}),
        (events.business_events, {"business_id": "b"}),
        (events.call_events, {"call_id": "c"}),
        (events.events_filter, {"business_id": "b", "call_id": "c"}),
        (events.events_filter, {"business_id": "b"}),
        (events.events_filter, {"call_id": "c"}),
        (events.events_filter, {}),
    ],
)
def test_every_event_subject_is_covered_by_the_events_channel(
    fn: Callable[..., str], kwargs: dict[str, str]
) -> None:
    assert channels_producing(fn(**kwargs), kwargs) == ["callEvents"]


def test_every_subject_constant_is_a_channel_a_filter_a_bucket_or_a_queue_group() -> None:
    forms = {f for c in CATALOG.channels for f in (c.template, c.wildcard, *c.filters)}
    buckets = {bucket.name for bucket in CATALOG.kv_buckets}
    queue_groups = {c.queue_group for c in CATALOG.channels if c.queue_group}
    for name, value in vars(subjects).items():
        if not (name.isupper() and isinstance(value, str)) or name in PREFIXES:
            continue
        assert value in forms | buckets | queue_groups, (
            f"subjects.{name} = {value!r} is not in catalog.py"
        )


def concrete_bus_messages() -> Iterator[type[messages.BusMessage]]:
    for info in pkgutil.walk_packages(switchboard_common.__path__, "switchboard_common."):
        if not info.name.endswith(".__main__"):  # running a CLI is not importing it
            importlib.import_module(info.name)
    pending = list(messages.BusMessage.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if model.__module__.startswith("switchboard_common.") and "type" in model.model_fields:
            yield model


def test_every_bus_message_of_libs_common_is_on_a_channel_or_in_a_bucket() -> None:
    found = set(concrete_bus_messages())
    assert messages.CallOffer in found and events.CallEndedEvent in found
    missing = sorted(m.__name__ for m in found - set(CATALOG.models()))
    assert not missing, f"bus messages no channel or bucket carries: {missing}"


def union_members(annotated: object) -> set[type[BaseModel]]:
    union = typing.get_args(annotated)[0]
    return set(typing.get_args(union))


def test_channels_carry_exactly_what_their_readers_parse() -> None:
    agent_control = CATALOG.channel("agentControl")
    assert set(agent_control.messages) == union_members(messages.AgentControl)
    gateway_control = CATALOG.channel("gatewayControl")
    sent = {*gateway_control.messages, *(r.message for r in gateway_control.requests)}
    assert sent == union_members(messages.GatewayControl)
    assert set(CATALOG.channel("transcript").messages) == union_members(messages.CallEvent)
    call_events = CATALOG.channel("callEvents")
    assert set(call_events.messages) == set(events.EVENT_MODELS.values())
    event_type = next(p for p in call_events.parameters if p.name == "event_type")
    assert set(event_type.enum) == set(events.EVENT_MODELS)


@pytest.mark.parametrize("channel", CATALOG.channels, ids=lambda c: c.id)
def test_each_channel_is_used_and_its_wildcard_matches_its_subjects(channel: Channel) -> None:
    assert channel.publishers and channel.subscribers
    subject = channel.subject(**{p.name: f"x-{p.name}" for p in channel.parameters})
    assert "{" not in subject and matches(channel.wildcard, subject)
    assert matches(">", subject) and not matches(channel.wildcard, subject + ".more")
    for stream in CATALOG.streams:
        stored = channel.id in stream.channels
        assert stored == any(matches(s, subject) for s in stream.subjects), stream.name


def test_request_reply_channels_and_queue_groups() -> None:
    dispatch = CATALOG.channel("agentDispatch")
    assert dispatch.queue_group == subjects.AGENT_QUEUE_GROUP
    assert [(r.message, r.replies) for r in dispatch.requests] == [
        (messages.CallOffer, (messages.CallOfferReply,))
    ]
    for channel_id in CATALOG.micro_services[0].endpoints:
        channel = CATALOG.channel(channel_id)
        assert channel.queue_group == knowledge.QUEUE_GROUP
        assert channel.subscribers == {Service.KNOWLEDGE}
        assert all(r.error_codes is knowledge.KnowledgeErrorCode for r in channel.requests)
    assert "$SRV.PING.knowledge" in CATALOG.micro_services[0].discovery_subjects


def test_a_channel_must_document_its_parameters_in_order() -> None:
    with pytest.raises(ValueError, match="not documented"):
        Channel(
            id="broken",
            template=subjects.TRANSCRIPT,
            summary="",
            publishers=frozenset({Service.AGENT}),
            subscribers=frozenset({Service.CONSUMER}),
            parameters=(Parameter("call_id", ""), Parameter("business_id", "")),
            messages=(messages.TranscriptEvent,),
        )


def channel_of_subject_name(name: str) -> list[str]:
    value = getattr(subjects, name)
    if callable(value):
        tokens = sample_tokens(value)
        return channels_producing(value(**tokens), tokens)
    return [c.id for c in CATALOG.channels if value in (c.template, c.wildcard, *c.filters)]


@pytest.mark.parametrize("service", sorted(SERVICE_SOURCES))
def test_each_service_uses_only_subjects_the_catalog_gives_it(service: Service) -> None:
    """A subject a service's code names must list that service as publisher or subscriber
    (a bucket: as reader or writer); otherwise its permissions would refuse it."""
    used: set[str] = set()
    for path in SERVICE_SOURCES[service].rglob("*.py"):
        used |= set(re.findall(r"\bsubjects\.([A-Za-z_]+)", path.read_text()))
    assert used, f"no subjects.* found in {SERVICE_SOURCES[service]}"
    for name in sorted(used):
        value = getattr(subjects, name)
        bucket = next((b for b in CATALOG.kv_buckets if b.name == value), None)
        if bucket is not None:
            assert service in bucket.readers | bucket.writers, (name, service)
            continue
        if name in ("AGENT_QUEUE_GROUP", "GATEWAY_QUEUE_GROUP"):
            continue  # a queue group's name, not a subject
        ids = channel_of_subject_name(name)
        assert ids, f"{service} uses subjects.{name}, which no channel declares"
        for channel_id in ids:
            channel = CATALOG.channel(channel_id)
            assert service in channel.publishers | channel.subscribers, (
                f"{service} uses subjects.{name} but is not on channel {channel_id}"
            )
