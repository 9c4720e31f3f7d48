"""A consumer of Switchboard's call events written only from docs/events.md.

It knows nothing of Switchboard's code: plain ``nats-py`` and ``json``, and the stream name,
subjects, fields and rules the document gives. If it stops working, the document (or the
stream) no longer says what it does.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.api import DeliverPolicy

STREAM = "SB_CALL_EVENTS"
SUPPORTED_VERSION = 1

# "Fields every event carries", with their JSON types.
COMMON_FIELDS: dict[str, tuple[type, ...]] = {
    "v": (int,),
    "type": (str,),
    "call_id": (str,),
    "business_id": (str,),
    "seq": (int,),
    "at": (str,),
}
NUMBER = (int, float)
NULL = (type(None),)
# "Event types": each type's own fields and JSON types.
TYPE_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "call_started": {
        "from_number": (str,),
        "to_number": (str,),
        "agent_id": (str,),
        "gateway_id": (str,),
    },
    "call_resumed": {
        "agent_id": (str,),
        "previous_agent_id": (str,),
        "epoch": (int,),
        "reason": (str,),
    },
    "caller_turn": {"text": (str,), "item_id": (str,)},
    "agent_turn": {
        "text": (str,),
        "item_id": (str,),
        "interrupted": (bool,),
        "played_ms": (int, *NULL),
        "produced_ms": (int,),
        "latency_ms": (*NUMBER, *NULL),
    },
    "tool_called": {
        "name": (str,),
        "arguments": (str,),
        "ok": (bool,),
        "output": (str,),
        "latency_ms": NUMBER,
    },
    "dtmf": {"digit": (str,)},
    "transfer": {"to_number": (str,), "ok": (bool,), "reason": (str,)},
    "call_ended": {
        "duration_s": NUMBER,
        "caller_turns": (int,),
        "agent_turns": (int,),
        "usage": (dict, *NULL),
        "reason": (str,),
        "detail": (str,),
    },
}
# Documented defaults: a field with one may be absent.
DEFAULTS: dict[str, dict[str, Any]] = {
    "agent_turn": {
        "interrupted": False,
        "played_ms": None,
        "produced_ms": 0,
        "latency_ms": None,
    },
    "transfer": {"reason": ""},
    "call_ended": {"usage": None, "reason": "", "detail": ""},
}
USAGE_FIELDS = ("input_tokens", "output_tokens", "total_tokens")


def problems(subject: str, event: dict[str, Any]) -> list[str]:
    """What in one event disagrees with the document (empty when it agrees)."""
    found: list[str] = []
    for name, kinds in COMMON_FIELDS.items():
        if not isinstance(event.get(name), kinds) or isinstance(event.get(name), bool):
            found.append(f"{name}: {event.get(name)!r} is not {kinds}")
    kind = event.get("type")
    for name, kinds in TYPE_FIELDS.get(str(kind), {}).items():
        value = event.get(name, DEFAULTS.get(str(kind), {}).get(name, KeyError))
        if value is KeyError:
            found.append(f"{kind}.{name} is missing")
        elif not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            found.append(f"{kind}.{name}: {value!r} is not {kinds}")
    if kind == "call_ended" and isinstance(event.get("usage"), dict):
        for name in USAGE_FIELDS:
            if not isinstance(event["usage"].get(name, 0), int):
                found.append(f"usage.{name} is not an integer")
    # sb.events.<business_id>.<call_id>.<type>
    tokens = subject.split(".")
    expected = ["sb", "events", event.get("business_id"), event.get("call_id"), kind]
    if tokens != expected:
        found.append(f"subject {subject!r} does not match the event")
    if isinstance(event.get("at"), str) and not event["at"].endswith(("Z", "+00:00")):
        found.append(f"at {event['at']!r} is not UTC")
    if isinstance(event.get("seq"), int) and event["seq"] < 1:
        found.append("seq is below 1")
    return found


def understood(event: dict[str, Any]) -> bool:
    """The compatibility rules: skip a version or a type this consumer does not know."""
    return event.get("v") == SUPPORTED_VERSION and event.get("type") in TYPE_FIELDS


class LiveConsumer:
    """Follows one business live ("Follow live": an ordered consumer, deliver policy new)."""

    def __init__(self, url: str, business_id: str) -> None:
        self.url = url
        self.filter = f"sb.events.{business_id}.>"
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._seen: set[tuple[str, int]] = set()
        self._nc: Client | None = None
        self._sub: Any = None

    async def start(self) -> None:
        self._nc = await nats.connect(self.url)
        js = self._nc.jetstream()
        self._sub = await js.subscribe(
            self.filter, stream=STREAM, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
        )

    async def until_ended(self, call_id: str, within_s: float) -> list[tuple[str, dict[str, Any]]]:
        """Collect events until ``call_ended`` of ``call_id`` arrives (bounded)."""
        async with asyncio.timeout(within_s):
            while True:
                msg = await self._sub.next_msg(timeout=None)
                event = json.loads(msg.data)
                if not understood(event):
                    continue
                key = (event["call_id"], event["seq"])  # at-least-once: de-duplicate
                if key in self._seen:
                    continue
                self._seen.add(key)
                self.received.append((msg.subject, event))
                if event["call_id"] == call_id and event["type"] == "call_ended":
                    return self.received

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
        if self._nc is not None:
            await self._nc.close()


async def replay_call(url: str, call_id: str, within_s: float) -> list[tuple[str, dict[str, Any]]]:
    """ "Replay one call": ordered consumer, deliver all, done at the message with nothing
    pending; nothing pending at creation means no events."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        async with asyncio.timeout(within_s):
            sub = await js.subscribe(
                f"sb.events.*.{call_id}.>",
                stream=STREAM,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
            )
            out: list[tuple[str, dict[str, Any]]] = []
            info = await sub.consumer_info()
            if info.num_pending or (info.delivered and info.delivered.consumer_seq):
                while True:
                    msg = await sub.next_msg(timeout=None)
                    event = json.loads(msg.data)
                    if understood(event):
                        out.append((msg.subject, event))
                    if msg.metadata.num_pending == 0:
                        break
            await sub.unsubscribe()
            return out
    finally:
        await nc.close()
