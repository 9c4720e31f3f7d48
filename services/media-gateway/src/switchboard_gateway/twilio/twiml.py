"""TwiML answers, built with the ``twilio`` package."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, VoiceResponse

AGENT_LOST_SAY = "We're sorry, we lost the connection to our assistant. Please call again."
UNKNOWN_NUMBER_SAY = "Sorry, this number is not in service. Goodbye."
NO_AGENT_SAY = "Sorry, all of our assistants are busy right now. Please call again in a moment."


def connect_stream(stream_url: str, parameters: dict[str, str], action_url: str) -> str:
    """Connect the call to our media stream.

    Twilio strips query strings from Stream URLs, so call context travels as ``<Parameter>``s
    (they come back in the ``start`` message). When the stream ends with the call still up,
    Twilio requests ``action_url``, whose answer decides what happens next: hang up after the
    agent said goodbye, dial a person for a transfer, or apologise when the agent was lost.
    """
    response = VoiceResponse()
    connect = Connect(action=action_url, method="POST")
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def dial(number: str) -> str:
    response = VoiceResponse()
    response.dial(number)
    return str(response)


def hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def say_and_hang_up(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)
