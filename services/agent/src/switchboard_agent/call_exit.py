"""The agent's own end of a call: hanging up, or transferring it to a person.

Why: an exit is asked for in one place (the ``end_call``/``transfer_call`` tools, the call's
limits) and carried out in another (once the last words are out), exactly once. This holds
the request between the two and makes the one gateway command that carries it out.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from nats.aio.client import Client

from switchboard_common import tracing
from switchboard_common.messages import HangUp, TransferCall

from .tools.telephony import ExitKind

log = logging.getLogger(__name__)


class CallExit:
    def __init__(self, call_id: str, nc: Client, gateway_subject: str) -> None:
        self._call_id = call_id
        self._nc = nc
        self._gateway_subject = gateway_subject
        self._requested: tuple[ExitKind, str, str | None] | None = None
        self._sent = False

    @property
    def requested(self) -> bool:
        return self._requested is not None

    @property
    def detail(self) -> str:
        """Why the agent ended the call, once it asked the gateway to ('' otherwise)."""
        return self._requested[1] if self._requested is not None and self._sent else ""

    def request(self, kind: ExitKind, reason: str, to_number: str | None = None) -> None:
        """The first request wins."""
        if self._requested is None:
            self._requested = (kind, reason, to_number)

    def take(
        self, transfer: Callable[[str, str], TransferCall]
    ) -> tuple[str, HangUp | TransferCall] | None:
        """The call's end reason and the gateway command, the first time only; ``transfer``
        makes the command for a transfer (to_number, reason), whose outcome is awaited."""
        if self._requested is None or self._sent:
            return None
        self._sent = True
        kind, reason, to_number = self._requested
        end_reason = "transferred" if kind == "transfer" else "agent_hung_up"  # why: detail
        command: HangUp | TransferCall
        if kind == "transfer" and to_number:
            command = transfer(to_number, reason)
        else:
            command = HangUp(call_id=self._call_id, reason=reason, after_playback=True)
        return end_reason, command

    def reopen(self) -> None:
        """The transfer failed and the call goes on: a later exit may be asked for."""
        self._requested = None
        self._sent = False

    async def hang_up_at_once(self, reason: str, *, traced: bool, apology: bool = False) -> None:
        """End the call now, without waiting for playback (the call cannot go on); with
        ``apology``, the caller is told so before the line closes."""
        hang_up = HangUp(
            call_id=self._call_id, reason=reason, after_playback=False, apology=apology
        )
        headers = tracing.inject_headers() if traced else None
        with contextlib.suppress(Exception):
            await self._nc.publish(self._gateway_subject, hang_up.to_bytes(), headers=headers)

    async def send(self, command: HangUp | TransferCall) -> None:
        try:
            await self._nc.publish(
                self._gateway_subject, command.to_bytes(), headers=tracing.inject_headers()
            )
        except Exception as exc:
            log.warning(
                "call %s: could not ask the gateway to end the call: %s", self._call_id, exc
            )
