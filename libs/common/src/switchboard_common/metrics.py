"""Prometheus metrics every service shares, labelled by the service that counts them."""

from __future__ import annotations

from prometheus_client import Counter

NATS_DISCONNECTS = Counter(
    "switchboard_nats_disconnects_total", "Connections to NATS lost.", ["service"]
)
NATS_RECONNECTS = Counter(
    "switchboard_nats_reconnects_total", "Connections to NATS re-established.", ["service"]
)
NATS_ERRORS = Counter(
    "switchboard_nats_errors_total", "Errors reported by the NATS client.", ["service"]
)
