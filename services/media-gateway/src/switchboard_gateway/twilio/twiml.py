"""TwiML answers, built with the ``twilio`` package."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

AGENT_LOST_SAY = "We're sorry, we lost the connection to our assistant. Please call again."
UNKNOWN_NUMBER_SAY = "Sorry, this number is not in service. Goodbye."
TRANSFER_FAILED_SAY = "Sorry, nobody could take your call just now. Please call again later."
MODEL_LOST_TRANSFER_SAY = (
    "We're sorry, we lost the connection to our assistant. Putting you through to a colleague."
)
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


def dial(
    number: str,
    *,
    timeout_s: int,
    action_url: str,
    answered_url: str,
    caller_id: str | None = None,
    say: str | None = None,
) -> str:
    """Transfer the call to ``number``, ringing it ``timeout_s``, after ``say`` if given.
    Twilio reports the person picking up to ``answered_url`` (the ``<Number>`` status
    callback) and, once the dial is over, its ``DialCallStatus`` to ``action_url``, whose
    answer decides what follows: the caller back with the agent when nobody answered, or the
    end of the call."""
    response = VoiceResponse()
    if say:
        response.say(say)
    options: dict[str, str | int] = {"timeout": timeout_s, "action": action_url, "method": "POST"}
    if caller_id:
        options["caller_id"] = caller_id
    target = Dial(**options)
    target.number(
        number,
        status_callback=answered_url,
        status_callback_event="answered",
        status_callback_method="POST",
    )
    response.append(target)
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
