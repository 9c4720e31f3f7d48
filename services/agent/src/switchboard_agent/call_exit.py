"""The agent's own end of a call: hanging up, or transferring it to a person.

Why: an exit is asked for in one place (the ``end_call``/``transfer_call`` tools, the call's
limits) and carried out in another (once the last words are out), exactly once. This holds
the request between the two and sends the one gateway command that carries it out; it is the
tools' :class:`CallControl`. A transfer's outcome is then awaited (see :mod:`.transfers`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from nats.aio.client import Client

from switchboard_common import tracing
from switchboard_common.business import BusinessProfile
from switchboard_common.messages import CallOffer, HangUp, TransferCall

from .call_phase import CallPhase
from .tools.telephony import ExitKind
from .transfers import Transfers

log = logging.getLogger(__name__)


class ExitHost(Protocol):
    """What an exit changes in the call it ends (implemented by the call session)."""

    end_reason: str

    @property
    def business(self) -> BusinessProfile:
        """The business's settings as the call follows them now."""

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` alongside the call (cancelled when it ends)."""


class CallExit:
    def __init__(
        self,
        offer: CallOffer,
        nc: Client,
        gateway_subject: str,
        host: ExitHost,
        phase: CallPhase,
        transfers: Transfers,
    ) -> None:
        self._call_id = offer.call_id
        self._offer = offer
        self._nc = nc
        self._gateway_subject = gateway_subject
        self._host = host
        self._phase = phase
        self._transfers = transfers
        self._requested: tuple[ExitKind, str, str | None] | None = None
        self._sent = False

    @property
    def requested(self) -> bool:
        return self._requested is not None

    @property
    def detail(self) -> str:
        """Why the agent ended the call, once it asked the gateway to ('' otherwise)."""
        return self._requested[1] if self._requested is not None and self._sent else ""

    def request_exit(self, kind: ExitKind, reason: str, to_number: str | None = None) -> None:
        """Called by the ``end_call``/``transfer_call`` tools and the limits: leave after the
        next reply has been spoken (see :meth:`leave`). The first request wins."""
        if self._requested is None:
            self._requested = (kind, reason, to_number)

    def transfer_unavailable(self) -> None:
        self._transfers.unavailable()

    async def leave(self) -> None:
        """Ask the gateway to end (or transfer) the call once the last words have played."""
        business = self._host.business
        taken = self.take(lambda to, why: self._transfers.command(business, self._offer, to, why))
        if taken is None:
            return
        self._host.end_reason, command = taken
        await self.send(command)
        if isinstance(command, TransferCall):
            self._host.spawn(self._transfers.wait_outcome(self._transfer_given_up))

    def _transfer_given_up(self) -> None:
        self._host.end_reason = "transferred"
        self._phase.end()

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

    async def give_up(self, why: str, start_timeout_s: float) -> None:
        """The call cannot go on (e.g. its model is lost for good): the caller hears the
        apology rather than silence, then is transferred to a person when the business chose
        so and has a number, or the line closes. The stream may not have started yet, so it
        is waited for (bounded) first. A transfer's outcome is awaited (bounded) so that its
        ``transfer`` event comes before the call's end; the call does not come back here."""
        if not await self._phase.settle(start_timeout_s):
            return
        business = self._host.business
        number = business.transfer_number if business.when_model_lost == "transfer" else None
        if number is None:
            await self.hang_up_at_once(why[:200], traced=True, apology=True)
            return
        self.request_exit("transfer", why[:200], number)
        self._sent = True  # nothing else leaves the call now
        command = self._transfers.command(
            business, self._offer, number, why[:200], last_resort=True
        )
        log.warning("call %s: the model is lost; transferring to %s", self._call_id, number)
        await self.send(command)
        await self._transfers.wait_outcome(self._phase.end)

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
