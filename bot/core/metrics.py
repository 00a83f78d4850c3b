"""Prometheus metrics of the platform, exposed at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INBOUND_MESSAGES = Counter(
    "switchboard_inbound_messages_total", "Inbound customer messages", ["channel", "outcome"]
)
OUTBOUND_MESSAGES = Counter(
    "switchboard_outbound_messages_total", "Messages handed to a channel", ["channel", "status"]
)
REPLIES = Counter("switchboard_replies_total", "Reply jobs by outcome", ["outcome"])
REPLY_SECONDS = Histogram(
    "switchboard_reply_seconds",
    "Time from taking a reply job to a stored answer",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
GUARDRAIL_VERDICTS = Counter(
    "switchboard_guardrail_verdicts_total",
    "Guardrail verdicts on customer messages and AI answers",
    ["rule", "action"],
)
MODE_CHANGES = Counter("switchboard_mode_changes_total", "Mode transitions", ["to"])
WS_CONNECTIONS = Gauge("switchboard_ws_connections", "Open WebSockets", ["kind"])
