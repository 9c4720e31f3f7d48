"""What a simulated call is set up with: where to dial, what to sign, how Twilio behaves.

Its own module because the CLI, the tests and the benchmarks build a call's settings without
needing the machinery that places it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from .dial import DialOutcome
from .rest import TwilioRestStandIn
from .signing import new_sid
from .stream import LogFn


@dataclass(slots=True)
class CallConfig:
    """Where to dial, what to sign, and who calls whom."""

    gateway_url: str
    public_base_url: str
    auth_token: str
    to_number: str = "+15550100"
    from_number: str = "+15557777"
    account_sid: str = field(default_factory=lambda: new_sid("AC"))
    call_sid: str = field(default_factory=lambda: new_sid("CA"))
    voice_path: str = "/twilio/voice"
    nats_url: str | None = None
    #: Keep the agent audio the caller heard (``CallResult.recording``); implied by record_path.
    record: bool = False
    record_path: Path | None = None
    #: 1.0 = real time. >1 compresses the whole call (pacing, playback, waits) for benchmarks.
    speed: float = 1.0
    #: Sign with a wrong token: the gateway must refuse (success = HTTP 403).
    bad_signature: bool = False
    http_timeout_s: float = 10.0
    #: Safety net over the whole call, in wall seconds.
    max_call_s: float = 600.0
    #: Printed lines go here as they happen (``print`` for the CLI); always kept in the result.
    log: LogFn | None = None
    #: Share one client across many calls (benchmarks); otherwise one per call.
    http_client: httpx.AsyncClient | None = None
    #: Twilio's REST API stand-in this call answers to (live-call updates: transfer, hang up).
    rest_api: TwilioRestStandIn | None = None
    #: What Twilio does when the stream breaks without a close: request the ``<Connect
    #: action>`` URL, or nothing ("wait": the caller waits in silence for a REST update).
    stream_lost: Literal["action", "wait"] = "action"
    #: How long a caller on a lost stream waits for the call to come back before hanging up.
    lost_wait_s: float = 10.0
    #: How a ``<Dial>`` ends (see :mod:`.dial`): the person answers and talks ``dial_talk_s``
    #: after ringing ``dial_answer_after_s``, nobody answers, the line is busy, or it fails.
    dial_outcome: DialOutcome = "completed"
    dial_answer_after_s: float = 0.5
    dial_talk_s: float = 1.0
