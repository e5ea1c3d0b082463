"""The states and kinds that rows move through, as enums in one place.

Each is a ``StrEnum``: stored as its plain value (``deliveries.status = 'sent'``), compared
equal to that string, and spelled once here so that a typo is a NameError, not a silent
mismatch.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "READY_TO_SEND",
    "SILENT",
    "DeliveryKind",
    "DeliveryStatus",
    "HitLabel",
    "NotAlerted",
    "SourceKind",
    "SubscriptionState",
]


class DeliveryStatus(StrEnum):
    """Where a delivery is in its life (``deliveries.status``).

    ``scheduled`` (a digest or throttle summary waiting for its time) -> ``pending`` ->
    ``sending`` (claimed by one worker) -> ``sent``, or ``retrying`` -> ``sending`` -> ... ,
    or ``failed`` (permanent, or out of attempts; a person may queue it again), or
    ``cancelled`` (its story was muted before it went out; undoing the mute queues it again).
    """

    SCHEDULED = "scheduled"
    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: The statuses a worker may claim for sending.
READY_TO_SEND = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class DeliveryKind(StrEnum):
    """What a delivery carries (``deliveries.kind``), and so how it is composed."""

    INSTANT = "instant"  # the first alert for a hit
    DIGEST = "digest"  # every hit of a period, for one destination
    THROTTLE = "throttle"  # the hits past a watchlist's throttle, summed up at the window's end
    FOLLOWUP = "followup"  # another outlet carried the story: a reply in the first alert's thread
    ESCALATION = "escalation"  # the story reached the watchlist's escalate_at sources
    TEST = "test"  # 'monitor alerts test': composed and sent, never stored
    SNOOZE = "snooze"  # the hits held while a watchlist was snoozed, sent when the snooze ends
    SPIKE = "spike"  # a watchlist's volume of stories is improbably high (monitor.trends)
    OPS = "ops"  # to MONITOR_OPS_ALERTS: a feed fell silent, or recovered

    @property
    def label(self) -> str:
        """What a person calls it (the hit page's list of deliveries)."""
        return _DELIVERY_LABELS[self]


_DELIVERY_LABELS = {
    DeliveryKind.INSTANT: "first alert",
    DeliveryKind.DIGEST: "digest",
    DeliveryKind.THROTTLE: "throttle summary",
    DeliveryKind.FOLLOWUP: "thread reply",
    DeliveryKind.ESCALATION: "escalation",
    DeliveryKind.TEST: "test message",
    DeliveryKind.SNOOZE: "snooze summary",
    DeliveryKind.SPIKE: "spike alert",
    DeliveryKind.OPS: "ops message",
}


class NotAlerted(StrEnum):
    """Why a hit was recorded without an alert of its own (``hits.not_alerted``; NULL when it
    was alerted, instantly or in a digest).

    ``too_old`` and ``first_poll`` hits have no deliveries at all; a ``throttled`` hit went
    into the window's summary instead of an instant alert.
    """

    TOO_OLD = "too_old"  # published (else first seen) longer than MONITOR_ALERT_MAX_AGE ago
    FIRST_POLL = "first_poll"  # in the feed at its first successful poll: the backlog
    MUTED = "muted"  # its story was muted for this watchlist (monitor.triage)
    THROTTLED = "throttled"  # past the watchlist's throttle: in the summary instead

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


#: Reasons that say nothing was sent about the hit (a throttled hit is in a summary).
SILENT = (NotAlerted.TOO_OLD, NotAlerted.FIRST_POLL, NotAlerted.MUTED)


class SubscriptionState(StrEnum):
    """Where a WebSub subscription stands (``websub_subscriptions.state``; monitor.feeds.websub).

    ``requested``: the feed named a hub, no request sent yet. ``pending``: the hub has our
    request and is to verify it by calling back. ``active``: verified, pushes are taken until
    ``lease_expires_at`` (renewed before it). ``denied``: the hub refused it (its reason is
    in ``last_error``). ``failed``: the request could not be made; retried later.
    """

    REQUESTED = "requested"
    PENDING = "pending"
    ACTIVE = "active"
    DENIED = "denied"
    FAILED = "failed"


class HitLabel(StrEnum):
    """What a person said of a hit (``hits.label``; NULL until someone says)."""

    RELEVANT = "relevant"
    NOT_RELEVANT = "not_relevant"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class SourceKind(StrEnum):
    """What a source in feeds.yaml is (its ``type:``; ``feeds.kind``), and so how its
    documents become articles (``monitor.feeds.sources``)."""

    FEED = "feed"  # RSS, Atom or JSON Feed: the default
    HTML = "html"  # a listing page read with CSS selectors
    SITEMAP = "sitemap"  # a news sitemap, or a sitemap index
    GDELT = "gdelt"  # the GDELT DOC 2.0 API in ArtList JSON mode
