"""The console channel: the alert as a log line. The default when nothing is configured, so
the embedded mode shows its alerts with no Slack or SMTP set up."""

from __future__ import annotations

from typing import Any

from monitor.alerts.formatting import (
    MANY_ITEMS,
    NAME_LIMIT,
    TITLE_LIMIT,
    URL_LIMIT,
    clip,
    mark_plain,
    matched_terms,
    one_line,
    plain_summary,
)
from monitor.alerts.message import Message, SendResult
from monitor.config import Settings
from monitor.destinations import AlertSpec
from monitor.logs import get_logger

__all__ = ["send"]

log = get_logger("monitor.alerts.console")


def send(message: Message, destination: AlertSpec, *, settings: Settings) -> SendResult:
    # One line per alert with the details as fields: readable on a terminal, and one JSON
    # object per alert with MONITOR_LOG_FORMAT=json. Control characters are flattened so a
    # headline cannot forge extra log lines, and every field is cut to the alerts' lengths
    # (formatting.clip) so a 5 MB headline is not a 5 MB log line.
    fields: dict[str, Any] = {
        "delivery_id": message.delivery_id,
        "kind": message.kind,
        "watchlist": ",".join(sorted({item.watchlist_id for item in message.items})) or None,
    }
    if message.kind in MANY_ITEMS:
        fields["hits"] = [
            f"[{clip(item.watchlist_name, NAME_LIMIT)}] {clip(item.title, TITLE_LIMIT)}"
            for item in message.items[:50]
        ]
        fields["link"] = message.list_link
    elif message.items:
        item = message.items[0]
        fields.update(
            url=clip(item.url, URL_LIMIT) or None,
            source=clip(item.source, NAME_LIMIT) or None,
            matched=matched_terms(item) or None,
            snippet=one_line(mark_plain(item.snippet[:1000], item.highlights))[:300] or None,
            link=item.hit_link,
        )
    log.info("ALERT " + plain_summary(message), **{k: v for k, v in fields.items() if v})
    return SendResult()
