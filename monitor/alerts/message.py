"""What a channel is given to send, and what it answers.

A :class:`Message` is built from the outbox rows just before sending (so a digest holds every
hit attached up to that moment) and is plain data: each channel renders it with
:mod:`monitor.alerts.formatting`, which escapes everything that came from a feed.

The channel contract is one function, ``send(message, destination, *, settings) ->
SendResult``, that either returns what the provider said (its message id) or raises
:class:`DeliveryError`, saying whether trying again could help.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.states import DeliveryKind

__all__ = ["AlertItem", "DeliveryError", "Message", "SendResult"]


@dataclass(frozen=True, slots=True)
class AlertItem:
    """One article that matched one watchlist, as the reader will see it."""

    watchlist_id: str
    watchlist_name: str
    title: str
    url: str = ""
    source: str = ""
    published_at: datetime | None = None
    snippet: str = ""
    # [start, end) spans of the matched words in ``snippet``.
    highlights: tuple[tuple[int, int], ...] = ()
    matched: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    source_count: int = 1
    # Other outlets that carried the same story ('also reported by').
    also_reported_by: tuple[str, ...] = ()
    hit_id: int | None = None
    # The watchlist's query: why the reader got this (the email's footer).
    watchlist_query: str = ""
    # The hit's page on the dashboard, when MONITOR_PUBLIC_URL says where that is.
    hit_link: str | None = None
    # This watchlist's hits of the message's period there (a digest's group of this watchlist).
    list_link: str | None = None
    # (text, URL) of each action a reader can take on the hit from an email: signed links to
    # the dashboard's confirmation page (monitor.triage.links). Empty elsewhere.
    actions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Message:
    """One alert to one destination: a single hit, a digest, a summary or a follow-up."""

    kind: DeliveryKind
    items: tuple[AlertItem, ...]
    # A line above the items: 'Digest 08:00-09:00', '12 more hits for X', ...
    heading: str = ""
    # Hits counted but not listed (a long throttle summary or digest is cut).
    omitted: int = 0
    delivery_id: int | None = None
    # Slack: post as a reply in this thread (the ts and channel id of the first alert).
    thread_ts: str | None = None
    thread_channel: str | None = None
    broadcast: bool = False
    period: tuple[datetime, datetime] | None = None
    # Set when an earlier attempt may have reached the provider without our knowing (its
    # worker died while sending): a channel that can look, looks before sending again.
    unconfirmed_since: datetime | None = None
    # Slack: the channel id this destination's messages went to before, for that look.
    known_channel: str | None = None
    # A digest's or a throttle summary's hits on the dashboard: its watchlist (when it has
    # one) and its period. None without MONITOR_PUBLIC_URL.
    list_link: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the provider answered: Slack's ``ts`` and channel id, or the SMTP Message-ID."""

    provider_message_id: str | None = None
    provider_channel: str | None = None


class DeliveryError(Exception):
    """Sending failed. ``permanent`` means trying again cannot help (a revoked token, an
    archived channel, a refused recipient); otherwise the outbox retries with backoff, waiting
    at least ``retry_after`` seconds when the provider said so.

    ``destination_broken`` (default: the same as ``permanent``) flags the destination, so
    later deliveries to it fail fast until a person clears it. A message the provider refuses
    for its own content (too long, bad blocks) is permanent but leaves the destination alone.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        destination_broken: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.destination_broken = permanent if destination_broken is None else destination_broken

    def __str__(self) -> str:
        return self.message
