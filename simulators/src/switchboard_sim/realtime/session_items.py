"""The ``conversation.item.*`` events: create, delete, retrieve and truncate, with the API's
checks and errors.

What they leave (the pending caller turn, tool calls and their outputs) is all the reply policy
reads, so the item rules sit apart from it and from the audio path. Import from
:mod:`.session`, the public face.
"""

from __future__ import annotations

from openai.types.realtime import (
    ConversationItemCreateEvent,
    ConversationItemDeleteEvent,
    ConversationItemRetrieveEvent,
    ConversationItemTruncateEvent,
)

from .responder import assistant_item
from .session_core import PendingUser, SessionCore


class ConversationItemEvents(SessionCore):
    """The ``conversation.item.*`` handlers (a base of the session)."""

    async def _on_item_create(self, event: ConversationItemCreateEvent) -> None:
        item = event.item
        item_id = item.id or self.factory.new_id("item")
        if item_id in self.items:
            await self.error(
                "invalid_value",
                f"Item with id '{item_id}' already exists in the conversation.",
                param="item.id",
                event_id=event.event_id,
            )
            return
        if item.type == "function_call_output" and not self._known_call(item.call_id):
            await self.error(
                "invalid_value",
                f"Tool call ID '{item.call_id}' not found in conversation.",
                param="item.call_id",
                event_id=event.event_id,
            )
            return
        stored = item.model_copy(
            update={"id": item_id, "object": "realtime.item", "status": "completed"}
        )
        previous = self.add_item(stored)
        if stored.type == "function_call_output":
            self._tool_outputs.append((stored.call_id, stored.output))
        elif stored.type == "function_call":
            # A call the client replays (a resumed conversation) answers the scripted turn
            # it belongs to, as a model's own call would.
            pending = self._pending_user
            turn = pending.turn if pending else None
            if turn is not None and turn.tool is not None and turn.tool.name == stored.name:
                self._pending_user = None
                self._tool_calls[stored.call_id or ""] = turn
        elif stored.type == "message" and stored.role == "user":
            text = " ".join(c.text or c.transcript or "" for c in stored.content).strip()
            self._pending_user = PendingUser(text, self.script.turn_for_text(text))
            self._tool_outputs.clear()  # the conversation moved on past those results
        await self.send(self.factory.item_added(stored, previous))
        await self.send(self.factory.item_done(stored, previous))

    def _known_call(self, call_id: str) -> bool:
        return call_id in self._tool_calls or any(
            s.item.type == "function_call" and s.item.call_id == call_id
            for s in self.items.values()
        )

    async def _on_item_delete(self, event: ConversationItemDeleteEvent) -> None:
        if self.items.pop(event.item_id, None) is None:
            await self._item_not_found(event.item_id, event.event_id)
            return
        await self.send(self.factory.item_deleted(event.item_id))

    async def _on_item_retrieve(self, event: ConversationItemRetrieveEvent) -> None:
        state = self.items.get(event.item_id)
        if state is None:
            await self._item_not_found(event.item_id, event.event_id)
            return
        await self.send(self.factory.item_retrieved(state.item))

    async def _item_not_found(self, item_id: str, event_id: str | None) -> None:
        await self.error(
            "item_not_found",
            f"Item with item_id not found: {item_id}",
            param="item_id",
            event_id=event_id,
        )

    async def _on_truncate(self, event: ConversationItemTruncateEvent) -> None:
        state = self.items.get(event.item_id)
        eid = event.event_id
        if state is None:
            await self.error(
                "item_truncate_invalid_item_id",
                f"Item with item_id not found: {event.item_id}",
                param="item_id",
                event_id=eid,
            )
            return
        item = state.item
        is_audio = item.type == "message" and item.role == "assistant" and state.audio_ms > 0
        if not is_audio:
            await self.error(
                "unsupported_content_type",
                "Only model output audio messages can be truncated",
                param="item_id",
                event_id=eid,
            )
        elif event.content_index != 0:
            await self.error(
                "invalid_value",
                f"Invalid content_index {event.content_index}: the item has 1 content part.",
                param="content_index",
                event_id=eid,
            )
        elif event.audio_end_ms < 0 or event.audio_end_ms > state.audio_ms:
            await self.error(
                "invalid_value",
                f"Audio content of {state.audio_ms}ms is already shorter than "
                f"{event.audio_end_ms}ms",
                param="audio_end_ms",
                event_id=eid,
            )
        else:
            state.audio_ms = event.audio_end_ms
            if item.type == "message" and item.role == "assistant":
                # Like the API, drop the transcript: the caller never heard the rest.
                state.item = assistant_item(
                    item.id or "", item.status or "completed", "output_audio"
                )
            await self.send(
                self.factory.item_truncated(event.item_id, event.content_index, event.audio_end_ms)
            )
