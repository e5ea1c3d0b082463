"""Alerting: the outbox, one module per channel, formatting, digests and throttling.

The pipeline calls :func:`record_hits` inside its transaction and queues the ids it returns;
a delivery task calls :func:`deliver`; the beat calls :func:`open_due_digests` and the sweep
:func:`due_delivery_ids`; ``monitor alerts retry`` calls :func:`retry_deliveries`.
See docs/alerts.md.
"""

from monitor.alerts.channels import CHANNELS
from monitor.alerts.message import AlertItem, DeliveryError, Message, SendResult
from monitor.alerts.outbox import (
    SEND_TIMEOUT,
    DeliveryOutcome,
    backoff_seconds,
    build_message,
    deliver,
    destinations_for,
    digest_period,
    due_delivery_ids,
    open_due_digests,
    parse_destinations,
    record_hits,
    retry_deliveries,
    send_test,
)

__all__ = [
    "CHANNELS",
    "SEND_TIMEOUT",
    "AlertItem",
    "DeliveryError",
    "DeliveryOutcome",
    "Message",
    "SendResult",
    "backoff_seconds",
    "build_message",
    "deliver",
    "destinations_for",
    "digest_period",
    "due_delivery_ids",
    "open_due_digests",
    "parse_destinations",
    "record_hits",
    "retry_deliveries",
    "send_test",
]
