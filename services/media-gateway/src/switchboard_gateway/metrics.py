"""Prometheus metrics of the gateway (served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ACTIVE_CALLS = Gauge("switchboard_gateway_active_calls", "Media streams currently open.")
FRAMES_IN = Counter("switchboard_gateway_frames_in_total", "Caller audio frames put on the bus.")
FRAMES_OUT = Counter("switchboard_gateway_frames_out_total", "Agent audio chunks sent to Twilio.")
FRAMES_DROPPED = Counter(
    "switchboard_gateway_frames_dropped_total",
    "Audio frames lost: agent chunks after the call ended or not sent to Twilio, caller "
    "frames with the bus buffer full.",
    ["why"],
)
MALFORMED = Counter(
    "switchboard_gateway_malformed_messages_total",
    "Media Streams messages refused (and otherwise ignored).",
    ["reason"],
)
REJECTED_SIGNATURES = Counter(
    "switchboard_gateway_rejected_signatures_total",
    "Requests with a bad Twilio signature.",
    ["leg"],
)
CALLS_REFUSED = Counter(
    "switchboard_gateway_calls_refused_total", "Calls answered with a polite refusal.", ["reason"]
)
CALLS_ENDED = Counter(
    "switchboard_gateway_calls_ended_total", "Calls ended, by reason.", ["reason"]
)
BARGE_INS = Counter("switchboard_gateway_clears_total", "Playback clears (barge-ins).")
DISPATCH_SECONDS = Histogram(
    "switchboard_gateway_dispatch_seconds",
    "Time to hand a call to an agent.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
TRANSFERS = Counter(
    "switchboard_gateway_transfers_total",
    "Calls handed to a person, by how: Twilio's REST API or the <Connect action> URL.",
    ["via"],
)
CALLS_MOVED = Counter(
    "switchboard_gateway_calls_moved_total",
    "Calls whose agent was lost, by outcome: moved to another agent, or no agent could take it.",
    ["outcome"],
)
TRANSFER_OUTCOMES = Counter(
    "switchboard_gateway_transfer_outcomes_total",
    "How transfers' dials ended, as Twilio reports them (answered, completed, no-answer, "
    "busy, failed, canceled).",
    ["status"],
)
REENTRIES = Counter(
    "switchboard_gateway_reentries_total",
    "Calls brought back on a new media stream after theirs was lost, by path: the <Connect "
    "action> URL, or a REST redirect the agent asked for.",
    ["via"],
)
