"""Every NATS subject Switchboard uses, spelled once.

Layout: ``sb.<area>.<ids…>.<what>``. Per-call subjects carry the call id so any process can
pick a call up (a call is not tied to the memory of one process); transcript subjects carry the
business first so a consumer can follow one tenant (``sb.transcript.<business>.>``) or one call.
"""

from __future__ import annotations

from .ids import check_token

ROOT = "sb"


def render(template: str, **tokens: str) -> str:
    """Fill a subject template's ``{name}`` placeholders, each checked to be one subject token.

    The templates below are the only spelling of each subject: the functions render them for
    the services, and :mod:`.catalog` reads them to document the bus.
    """
    return template.format_map(
        {name: check_token(value, name.replace("_", " ")) for name, value in tokens.items()}
    )


#: Request-reply: a gateway offers a call to the pool (the fallback when it has heard no agent
#: with room, see :func:`agent_offer`); one agent of the queue group takes it.
AGENT_DISPATCH = f"{ROOT}.agent.dispatch"
#: Queue group all agent processes join on :data:`AGENT_DISPATCH`.
AGENT_QUEUE_GROUP = "agents"
#: Request-reply: an agent whose call lost its media stream asks any gateway to bring the call
#: back on a new one through Twilio's REST API; one gateway of the queue group answers.
GATEWAY_RECONNECT = f"{ROOT}.gateway.reconnect"
#: Queue group all gateway processes join on :data:`GATEWAY_RECONNECT`.
GATEWAY_QUEUE_GROUP = "gateways"
#: Wildcard over every agent's liveness beat.
AGENT_HEARTBEATS = f"{ROOT}.agent.*.heartbeat"
#: Wildcard over every transcript event.
TRANSCRIPTS = f"{ROOT}.transcript.>"
#: The knowledge service's endpoints (a nats.micro service named "knowledge").
KNOWLEDGE_QUERY = f"{ROOT}.knowledge.query"
KNOWLEDGE_INGEST = f"{ROOT}.knowledge.ingest"
KNOWLEDGE_DELETE = f"{ROOT}.knowledge.delete"
KNOWLEDGE_LIST = f"{ROOT}.knowledge.list"
#: JetStream key-value bucket holding one record per live call.
CALLS_BUCKET = "sb_calls"
#: JetStream key-value bucket of business configurations: key = business id, value = the
#: ``BusinessProfile`` JSON. Every service watches it (see ``business_store``).
BUSINESSES_BUCKET = "sb_businesses"
#: JetStream key-value bucket of phone-number claims: key = the E.164 digits (no "+"), value =
#: the owning business id. Created atomically, so a number has at most one business.
BUSINESS_NUMBERS_BUCKET = "sb_business_numbers"
#: JetStream key-value bucket of the web console's sign-ins: key = login name, value = the
#: ``ConsoleLogin`` JSON (a password hash, never the password).
CONSOLE_LOGINS_BUCKET = "sb_console_logins"
#: JetStream key-value bucket of the console's open sessions: key = a random session id, value
#: = its login. Signing out deletes the key; the bucket's TTL ends a session no one closed.
CONSOLE_SESSIONS_BUCKET = "sb_console_sessions"
#: JetStream key-value bucket of recent failed console sign-ins: key = a hash of the login, value
#: = the failures' times (JSON); its TTL is the throttle's window.
CONSOLE_FAILURES_BUCKET = "sb_console_failures"


#: Templates of the per-id subjects; ``{name}`` is one subject token (see :func:`render`).
AGENT_HEARTBEAT = f"{ROOT}.agent.{{agent_id}}.heartbeat"
AGENT_OFFER = f"{ROOT}.agent.{{agent_id}}.offer"
CALLER_AUDIO = f"{ROOT}.call.{{call_id}}.audio.caller"
AGENT_AUDIO = f"{ROOT}.call.{{call_id}}.audio.agent"
GATEWAY_CONTROL = f"{ROOT}.call.{{call_id}}.gateway"
AGENT_CONTROL = f"{ROOT}.call.{{call_id}}.agent"
TRANSCRIPT = f"{ROOT}.transcript.{{business_id}}.{{call_id}}"
BUSINESS_TRANSCRIPTS = f"{ROOT}.transcript.{{business_id}}.*"
CALLER_MESSAGES = f"{ROOT}.messages.{{business_id}}"
#: Call events (JetStream stream ``SB_CALL_EVENTS``, see :mod:`.events`).
EVENTS_ROOT = f"{ROOT}.events"
CALL_EVENT = f"{EVENTS_ROOT}.{{business_id}}.{{call_id}}.{{event_type}}"
ALL_EVENTS = f"{EVENTS_ROOT}.>"
#: Filters over call events: one business, one call (whatever its business), or both.
BUSINESS_EVENTS = f"{EVENTS_ROOT}.{{business_id}}.>"
CALL_EVENTS = f"{EVENTS_ROOT}.*.{{call_id}}.>"
BUSINESS_CALL_EVENTS = f"{EVENTS_ROOT}.{{business_id}}.{{call_id}}.>"


def agent_heartbeat(agent_id: str) -> str:
    """An agent process announces it is alive (and its load) here."""
    return render(AGENT_HEARTBEAT, agent_id=agent_id)


def agent_offer(agent_id: str) -> str:
    """Request-reply to one agent process by name: a gateway offers a call (new, or moved off a
    lost agent) to an agent it hears beating, never to one gone quiet (which, if only hung, is
    still in the queue group of :data:`AGENT_DISPATCH`)."""
    return render(AGENT_OFFER, agent_id=agent_id)


def call_token(call_id: str, epoch: int = 1) -> str:
    """The token naming a call's live subjects at an ownership epoch: the call id at epoch 1,
    ``<call_id>-e<epoch>`` after each move to another agent. Why: once a call moved, whatever a
    lost (or only cut off) agent still sends goes to subjects nobody listens to any more, so
    stale audio and commands are dropped without a check on the audio path."""
    return call_id if epoch <= 1 else f"{call_id}-e{epoch}"


def caller_audio(call_id: str, epoch: int = 1) -> str:
    """Caller audio, gateway → agent. Payload: raw μ-law bytes (see :mod:`.audio`)."""
    return render(CALLER_AUDIO, call_id=call_token(call_id, epoch))


def agent_audio(call_id: str, epoch: int = 1) -> str:
    """Agent audio, agent → gateway. Payload: chunk header + raw μ-law (see :mod:`.audio`)."""
    return render(AGENT_AUDIO, call_id=call_token(call_id, epoch))


def gateway_control(call_id: str, epoch: int = 1) -> str:
    """Commands for whichever gateway holds the call's media stream (clear, hang up)."""
    return render(GATEWAY_CONTROL, call_id=call_token(call_id, epoch))


def agent_control(call_id: str, epoch: int = 1) -> str:
    """Call lifecycle and caller events for whichever agent owns the call."""
    return render(AGENT_CONTROL, call_id=call_token(call_id, epoch))


def transcript(business_id: str, call_id: str) -> str:
    """Transcript events of one call of one business."""
    return render(TRANSCRIPT, business_id=business_id, call_id=call_id)


def business_transcripts(business_id: str) -> str:
    """Wildcard over the transcripts of one business."""
    return render(BUSINESS_TRANSCRIPTS, business_id=business_id)


def caller_messages(business_id: str) -> str:
    """Messages callers left for a business (the ``take_message`` tool)."""
    return render(CALLER_MESSAGES, business_id=business_id)
