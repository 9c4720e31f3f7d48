"""A Twilio stand-in: places signed voice-webhook calls and runs Media Streams at real time.

Entry points: :class:`CallSimulator` (one call, async) and :class:`TwilioMediaStream` (the raw
stream client, for tests that need to misbehave). CLI: ``python -m switchboard_sim.call``.
"""

from .audio import Utterance, read_wav_ulaw, write_ulaw_wav
from .rest import TwilioRestStandIn
from .scenario import Scenario, ScenarioError, Turn
from .signing import map_stream_url, twilio_signature
from .simulator import CallConfig, CallFailed, CallResult, CallSimulator
from .stream import CallClock, StreamClosed, TurnLatency, TwilioMediaStream
from .twiml import parse_twiml

__all__ = [
    "CallClock",
    "CallConfig",
    "CallFailed",
    "CallResult",
    "CallSimulator",
    "Scenario",
    "ScenarioError",
    "StreamClosed",
    "Turn",
    "TurnLatency",
    "TwilioMediaStream",
    "TwilioRestStandIn",
    "Utterance",
    "map_stream_url",
    "parse_twiml",
    "read_wav_ulaw",
    "twilio_signature",
    "write_ulaw_wav",
]
