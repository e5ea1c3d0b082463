"""The channels, one module each, listed in one explicit registry.

Each channel is a function ``send(message, destination, *, settings) -> SendResult`` that
raises :class:`~monitor.alerts.message.DeliveryError` when the provider refuses or cannot be
reached. Channels do not retry: the outbox is the only retry layer.
"""

from __future__ import annotations

from typing import Protocol

from monitor.alerts.channels import console, email, slack, webhook
from monitor.alerts.message import Message, SendResult
from monitor.config import Settings
from monitor.destinations import AlertSpec

__all__ = ["CHANNELS", "Sender"]


class Sender(Protocol):
    def __call__(
        self, message: Message, destination: AlertSpec, *, settings: Settings
    ) -> SendResult: ...


CHANNELS: dict[str, Sender] = {
    "slack": slack.send,
    "webhook": webhook.send,
    "email": email.send,
    "console": console.send,
}
