"""The console channel: the alert as a log line. The default when nothing is configured, so
the embedded mode shows its alerts with no Slack or SMTP set up."""

from __future__ import annotations

from typing import Any

from monitor.alerts.formatting import mark_plain, one_line, plain_summary
from monitor.alerts.message import Message, SendResult
from monitor.config import Settings
from monitor.destinations import AlertSpec
from monitor.logs import get_logger
from monitor.states import DeliveryKind

__all__ = ["send"]

log = get_logger("monitor.alerts.console")


def send(message: Message, destination: AlertSpec, *, settings: Settings) -> SendResult:
    # One line per alert with the details as fields: readable on a terminal, and one JSON
    # object per alert with MONITOR_LOG_FORMAT=json. Control characters are flattened so a
    # headline cannot forge extra log lines.
    fields: dict[str, Any] = {
        "delivery_id": message.delivery_id,
        "kind": message.kind,
        "watchlist": ",".join(sorted({item.watchlist_id for item in message.items})) or None,
    }
    if message.kind in (DeliveryKind.DIGEST, DeliveryKind.THROTTLE):
        fields["hits"] = [
            f"[{one_line(item.watchlist_name)}] {one_line(item.title)}"
            for item in message.items[:50]
        ]
    elif message.items:
        item = message.items[0]
        fields.update(
            url=item.url or None,
            source=one_line(item.source) or None,
            matched=", ".join(one_line(t) for t in item.matched) or None,
            snippet=one_line(mark_plain(item.snippet, item.highlights))[:300] or None,
        )
    log.info("ALERT " + plain_summary(message), **{k: v for k, v in fields.items() if v})
    return SendResult()
