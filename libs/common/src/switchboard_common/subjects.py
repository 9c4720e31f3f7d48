"""Every NATS subject Switchboard uses, spelled once.

Layout: ``sb.<area>.<ids…>.<what>``. Per-call subjects carry the call id so any process can
pick a call up (a call is not tied to the memory of one process); transcript subjects carry the
business first so a consumer can follow one tenant (``sb.transcript.<business>.>``) or one call.
"""

from __future__ import annotations

from .ids import check_token

ROOT = "sb"

#: Request-reply: a gateway offers a new call; one agent of the queue group takes it.
AGENT_DISPATCH = f"{ROOT}.agent.dispatch"
#: Queue group all agent processes join on :data:`AGENT_DISPATCH`.
AGENT_QUEUE_GROUP = "agents"
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


def agent_heartbeat(agent_id: str) -> str:
    """An agent process announces it is alive (and its load) here."""
    return f"{ROOT}.agent.{check_token(agent_id, 'agent id')}.heartbeat"


def caller_audio(call_id: str) -> str:
    """Caller audio, gateway → agent. Payload: raw μ-law bytes (see :mod:`.audio`)."""
    return f"{ROOT}.call.{check_token(call_id, 'call id')}.audio.caller"


def agent_audio(call_id: str) -> str:
    """Agent audio, agent → gateway. Payload: chunk header + raw μ-law (see :mod:`.audio`)."""
    return f"{ROOT}.call.{check_token(call_id, 'call id')}.audio.agent"


def gateway_control(call_id: str) -> str:
    """Commands for whichever gateway holds the call's media stream (clear, hang up)."""
    return f"{ROOT}.call.{check_token(call_id, 'call id')}.gateway"


def agent_control(call_id: str) -> str:
    """Call lifecycle and caller events for whichever agent owns the call."""
    return f"{ROOT}.call.{check_token(call_id, 'call id')}.agent"


def transcript(business_id: str, call_id: str) -> str:
    """Transcript events of one call of one business."""
    return (
        f"{ROOT}.transcript.{check_token(business_id, 'business id')}."
        f"{check_token(call_id, 'call id')}"
    )


def business_transcripts(business_id: str) -> str:
    """Wildcard over the transcripts of one business."""
    return f"{ROOT}.transcript.{check_token(business_id, 'business id')}.*"


def caller_messages(business_id: str) -> str:
    """Messages callers left for a business (the ``take_message`` tool)."""
    return f"{ROOT}.messages.{check_token(business_id, 'business id')}"
