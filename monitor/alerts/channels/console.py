"""The console channel: the alert as a log line. The default when nothing is configured, so
the embedded mode shows its alerts with no Slack or SMTP set up."""

from __future__ import annotations

from monitor.alerts.formatting import plain_summary, plain_text
from monitor.alerts.message import Message, SendResult
from monitor.alerts.spec import AlertSpec
from monitor.config import Settings
from monitor.logs import get_logger

__all__ = ["send"]

log = get_logger("monitor.alerts.console")


def send(message: Message, destination: AlertSpec, *, settings: Settings) -> SendResult:
    log.warning(
        "ALERT " + plain_summary(message),
        delivery_id=message.delivery_id,
        kind=message.kind,
        watchlist=sorted({item.watchlist_id for item in message.items}) or None,
        body=plain_text(message),
    )
    return SendResult()
