"""Prometheus metrics of the agent (served on the metrics port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)

ACTIVE_CALLS = Gauge("switchboard_agent_active_calls", "Calls this agent owns.")
FRAMES_IN = Counter("switchboard_agent_frames_in_total", "Caller frames sent to the model.")
FRAMES_OUT = Counter("switchboard_agent_frames_out_total", "Agent audio chunks put on the bus.")
FRAMES_DROPPED = Counter(
    "switchboard_agent_frames_dropped_total",
    "Audio dropped (early overflow, interrupted).",
    ["why"],
)
TURN_LATENCY = Histogram(
    "switchboard_agent_turn_latency_seconds",
    "End of caller speech (server VAD) to the first agent audio.",
    buckets=_LATENCY_BUCKETS,
)
BARGE_INS = Counter("switchboard_agent_barge_ins_total", "Caller interruptions handled.")
BARGE_IN_LATENCY = Histogram(
    "switchboard_agent_barge_in_latency_seconds",
    "Caller speech detected (speech_started) to the gateway confirming the playback clear.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0),
)
TOOL_CALLS = Counter(
    "switchboard_agent_tool_calls_total", "Tool calls, by tool and outcome.", ["tool", "ok"]
)
TOOL_LATENCY = Histogram("switchboard_agent_tool_latency_seconds", "Tool run time.", ["tool"])
KNOWLEDGE_QUERY_LATENCY = Histogram(
    "switchboard_agent_knowledge_query_seconds",
    "Knowledge service round trip as the agent sees it, by outcome (ok, timeout, error).",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
)
REALTIME_ERRORS = Counter(
    "switchboard_agent_realtime_errors_total", "Error events from the Realtime API.", ["code"]
)
REALTIME_MALFORMED = Counter(
    "switchboard_agent_realtime_malformed_total",
    "Server events from the Realtime API that could not be read, skipped.",
)
REALTIME_RECONNECTS = Counter(
    "switchboard_agent_realtime_reconnects_total", "Realtime connections re-opened mid-call."
)
REALTIME_ROLLOVERS = Counter(
    "switchboard_agent_realtime_rollovers_total", "Calls moved to a new Realtime session early."
)
TOOL_FAILURES = Counter(
    "switchboard_agent_tool_failures_total",
    "Failed tool calls, by tool and reason (timeout, unreachable, backend_error, refused, "
    "circuit_open, bad_input, unknown_tool, internal).",
    ["tool", "reason"],
)
TOOL_FAST_FAILURES = Counter(
    "switchboard_agent_tool_fast_failures_total",
    "Tool calls failed at once because their backend's circuit breaker was open.",
    ["backend"],
)
TOOL_BREAKER_TRANSITIONS = Counter(
    "switchboard_agent_tool_breaker_transitions_total",
    "Circuit breaker state changes, by backend and the state entered.",
    ["backend", "to"],
)
TOOL_BREAKER_OPEN = Gauge(
    "switchboard_agent_tool_breaker_open",
    "1 while a backend's circuit breaker is open or half-open, else 0.",
    ["backend"],
)
TOOL_HOLDING_PHRASES = Counter(
    "switchboard_agent_tool_holding_phrases_total",
    "Holding phrases said because a tool kept the caller waiting.",
)
