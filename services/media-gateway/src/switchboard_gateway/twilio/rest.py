"""Changing a live call through Twilio's REST API (the ``twilio`` package).

A transfer updates the call with new TwiML (``<Dial>``): Twilio ends our media stream and
dials the number at once, with no round trip through our ``<Connect action>`` URL. The client
is synchronous (requests), so each update runs in a worker thread: updates are rare (one per
transfer), and the event loop carrying the audio never blocks on them.
"""

from __future__ import annotations

import asyncio

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client


class CallControlError(Exception):
    """Twilio refused the update or could not be reached; ``str()`` says which."""


class TwilioCallControl:
    def __init__(
        self, account_sid: str, auth_token: str, api_base_url: str, timeout_s: float = 5.0
    ) -> None:
        self._client = Client(
            account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout_s)
        )
        # The REST stand-in of the call simulator lives at another address; production keeps
        # Twilio's default.
        self._client.api.base_url = api_base_url.rstrip("/")

    async def redirect(self, call_sid: str, twiml: str) -> None:
        """Make the live call leave our stream and run ``twiml`` instead."""
        await self._update(call_sid, twiml=twiml)

    async def complete(self, call_sid: str) -> None:
        """Hang the live call up."""
        await self._update(call_sid, status="completed")

    async def _update(self, call_sid: str, **fields: str) -> None:
        def update() -> None:
            self._client.calls(call_sid).update(**fields)

        try:
            await asyncio.to_thread(update)
        except TwilioException as exc:
            raise CallControlError(f"Twilio refused the call update: {exc}") from exc
        except OSError as exc:  # requests' connection errors are OSErrors
            raise CallControlError(f"Twilio's REST API unreachable: {exc}") from exc
