"""Requests not signed by Twilio (with our token, over our public URL) are refused on both legs."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from switchboard_sim.call import CallSimulator, Scenario, TwilioMediaStream, twilio_signature

from .conftest import RunningStack

pytestmark = pytest.mark.timeout(30)

PARAMS = {
    "CallSid": "CA" + "0" * 32,
    "AccountSid": "AC" + "0" * 32,
    "From": "+15557777",
    "To": "+15550100",
    "CallStatus": "ringing",
}


async def test_voice_webhook_with_a_bad_signature_is_refused(system: RunningStack) -> None:
    config = system.call_config(bad_signature=True)
    result = await CallSimulator(config).run(Scenario.from_dict({"turns": [{"hangup": True}]}))
    assert result.webhook_status == 403
    assert result.refused_as_expected
    assert not result.connected


async def test_signature_is_checked_against_the_public_url_not_the_request(
    system: RunningStack,
) -> None:
    """Signed for the address we were actually reached at (as a proxy would forward it), the
    request is still refused: only the configured public URL counts."""
    token = system.stack.auth_token
    local_url = f"{system.gateway_url}/twilio/voice"
    async with httpx.AsyncClient() as client:
        response = await client.post(
            local_url,
            data=PARAMS,
            headers={"X-Twilio-Signature": twilio_signature(token, local_url, PARAMS)},
        )
        assert response.status_code == 403
        public = f"{system.stack.public_base_url}/twilio/voice"
        response = await client.post(
            local_url,
            data=PARAMS,
            headers={"X-Twilio-Signature": twilio_signature(token, public, PARAMS)},
        )
        assert response.status_code == 200
        assert "<Connect " in response.text


@pytest.mark.parametrize("token", ["wrong-token", None])
async def test_media_stream_upgrade_with_a_bad_signature_is_refused(
    system: RunningStack, token: str | None
) -> None:
    ws_url = system.gateway_url.replace("http://", "ws://") + "/twilio/media"
    public = system.stack.public_base_url.replace("https://", "wss://") + "/twilio/media"
    with pytest.raises(InvalidStatus) as refused:
        await TwilioMediaStream.open(
            ws_url,
            auth_token=token or system.stack.auth_token,
            # None: sign the local URL instead of the public one
            signed_url=public if token else ws_url,
            account_sid="AC" + "0" * 32,
            call_sid="CA" + "0" * 32,
        )
    assert refused.value.response.status_code == 403
    assert 'leg="media"' in await system.metrics()
