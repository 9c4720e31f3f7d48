"""Tools every business can enable."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from switchboard_common import subjects
from switchboard_common.messages import CallerMessage

from . import knowledge, telephony
from .registry import JsonObject, ToolContext, ToolRegistry


async def take_message(ctx: ToolContext, args: JsonObject) -> dict[str, Any]:
    """Leave a message for the business: published on the bus for whoever handles them."""
    name = str(args.get("caller_name", "")).strip()
    message = str(args.get("message", "")).strip()
    if not message:
        raise ValueError("a message needs some content")
    if ctx.nc is None:
        raise RuntimeError("the message service is not connected")
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


def register_builtin_tools(registry: ToolRegistry) -> ToolRegistry:
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
    )(take_message)
    registry.tool(
        "get_current_time",
        "The business's current local day and time, to answer questions like 'are you open now'.",
        {"type": "object", "properties": {}},
        timeout_s=1.0,
    )(get_current_time)
    registry.tool(
        "query_knowledge_base",
        knowledge.DESCRIPTION,
        knowledge.DEFINITION,
        timeout_s=knowledge.DEADLINE_S + 0.5,
    )(knowledge.query_knowledge_base)
    registry.tool(
        "end_call",
        "End the call once the caller's needs are met or they say goodbye; then say goodbye.",
        telephony.END_CALL_SCHEMA,
        timeout_s=1.0,
    )(telephony.end_call)
    registry.tool(
        "transfer_call",
        "Put the caller through to a member of staff when they ask for a person or you cannot "
        "help.",
        telephony.TRANSFER_SCHEMA,
        timeout_s=1.0,
    )(telephony.transfer_call)
    return registry
