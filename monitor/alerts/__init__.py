"""Alerting: the outbox, one module per channel, formatting, digests and throttling.

The pipeline calls :func:`record_hits` inside its transaction and queues the ids it returns;
a delivery task calls :func:`deliver`; the beat calls :func:`open_due_digests` and the sweep
:func:`due_delivery_ids`; ``monitor alerts retry`` calls :func:`retry_deliveries`.
See docs/alerts.md.
"""

from monitor.alerts import outbox
from monitor.alerts.channels import CHANNELS
from monitor.alerts.message import AlertItem, DeliveryError, Message, SendResult

# The outbox's public API is this package's: its __all__ is the one list of those names.
from monitor.alerts.outbox import *  # noqa: F403

__all__ = ["CHANNELS", "AlertItem", "DeliveryError", "Message", "SendResult"]
__all__ += outbox.__all__
