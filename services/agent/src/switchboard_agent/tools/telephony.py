"""``end_call`` and ``transfer_call``: the agent ends the call itself, or hands it to a person.

Both only *request* the exit: the model is given the tool's result, says its last words, and
the session asks the gateway to end (or transfer) the call once those words have played.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from .registry import JsonObject, ToolContext

ExitKind = Literal["hang_up", "transfer"]


class CallControl(Protocol):
    """What a tool may ask of the call it serves (implemented by the call session)."""

    def request_exit(self, kind: ExitKind, reason: str, to_number: str | None = None) -> None: ...

    def transfer_unavailable(self) -> None:
        """A transfer was asked for and the business has no number to transfer to."""


def _control(ctx: ToolContext) -> CallControl:
    if ctx.control is None:
        raise RuntimeError("this call cannot be controlled from here")
    control: CallControl = ctx.control
    return control


async def end_call(ctx: ToolContext, args: JsonObject) -> dict[str, Any]:
    reason = str(args.get("reason", "")).strip()[:200] or "conversation finished"
    _control(ctx).request_exit("hang_up", reason)
    return {"status": "ending", "instruction": "Say a short, friendly goodbye now."}


async def transfer_call(ctx: ToolContext, args: JsonObject) -> dict[str, Any]:
    number = ctx.business.transfer_number
    if not number:
        _control(ctx).transfer_unavailable()
        return {"status": "unavailable", "instruction": "Nobody can take calls; offer a message."}
    reason = str(args.get("reason", "")).strip()[:200] or "caller asked for a person"
    _control(ctx).request_exit("transfer", reason, number)
    return {
        "status": "transferring",
        "instruction": "Tell the caller you are putting them through.",
    }


END_CALL_SCHEMA: JsonObject = {
    "type": "object",
    "properties": {"reason": {"type": "string", "description": "Why the call is ending."}},
}
TRANSFER_SCHEMA: JsonObject = {
    "type": "object",
    "properties": {"reason": {"type": "string", "description": "What the caller needs."}},
}
