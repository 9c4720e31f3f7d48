"""Tools every business can enable."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from switchboard_common import subjects
from switchboard_common.messages import CallerMessage

from . import knowledge, telephony
from .failures import FailureKind, ToolFailure, ToolInputError
from .registry import JsonObject, ToolContext, ToolRegistry


async def take_message(ctx: ToolContext, args: JsonObject) -> dict[str, Any]:
    """Leave a message for the business: published on the bus for whoever handles them."""
    name = str(args.get("caller_name", "")).strip()
    message = str(args.get("message", "")).strip()
    if not message:
        raise ToolInputError("a message needs some content")
    if ctx.nc is None:
        raise ToolFailure(FailureKind.UNREACHABLE, "the bus is not connected")
    note = CallerMessage(
        call_id=ctx.call_id,
        business_id=ctx.business.business_id,
        caller_name=name,
        callback_number=str(args.get("callback_number", "")).strip(),
        message=message,
    )
    await ctx.nc.publish(subjects.caller_messages(ctx.business.business_id), note.to_bytes())
    return {"status": "delivered", "to": ctx.business.name}


async def get_current_time(ctx: ToolContext, args: JsonObject) -> dict[str, Any]:
    try:
        zone = ZoneInfo(ctx.business.timezone)
    except ZoneInfoNotFoundError:
        zone = ZoneInfo("UTC")
    now = datetime.now(zone)
    return {"local_time": now.strftime("%A %H:%M"), "timezone": str(zone)}


def register_builtin_tools(
    registry: ToolRegistry, knowledge_deadline_s: float = knowledge.DEADLINE_S
) -> ToolRegistry:
    """``knowledge_deadline_s``: how long a knowledge query may take (the tool's own deadline
    is a little longer, so the query's own timeout is what normally fires)."""
    registry.tool(
        "take_message",
        "Take a message for the business (for example for the manager) with the caller's name "
        "and callback number.",
        {
            "type": "object",
            "properties": {
                "caller_name": {"type": "string"},
                "callback_number": {"type": "string"},
                "message": {"type": "string"},
            },
            "required": ["message"],
        },
        timeout_s=3.0,
        failure_words="The message could not be passed on just now. Apologise, and suggest the "
        "caller tries again later.",
    )(take_message)
    registry.tool(
        "get_current_time",
        "The business's current local day and time, to answer questions like 'are you open now'.",
        {"type": "object", "properties": {}},
        timeout_s=1.0,
        failure_words="The time could not be looked up just now. Say you are not sure of the time.",
    )(get_current_time)
    registry.tool(
        "query_knowledge_base",
        knowledge.DESCRIPTION,
        knowledge.DEFINITION,
        timeout_s=knowledge_deadline_s + 0.25,
        backend=knowledge.BACKEND,
        failure_words=knowledge.FAILURE_WORDS,
    )(knowledge.knowledge_tool(knowledge_deadline_s))
    registry.tool(
        "end_call",
        "End the call once the caller's needs are met or they say goodbye; then say goodbye.",
        telephony.END_CALL_SCHEMA,
        timeout_s=1.0,
        failure_words="The call could not be ended from here. Say goodbye; the caller can hang up.",
    )(telephony.end_call)
    registry.tool(
        "transfer_call",
        "Put the caller through to a member of staff when they ask for a person or you cannot "
        "help.",
        telephony.TRANSFER_SCHEMA,
        timeout_s=1.0,
        failure_words="The call could not be put through just now. Apologise and offer to "
        "take a message.",
    )(telephony.transfer_call)
    return registry
