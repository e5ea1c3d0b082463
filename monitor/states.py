"""The states and kinds that rows move through, as enums in one place.

Each is a ``StrEnum``: stored as its plain value (``deliveries.status = 'sent'``), compared
equal to that string, and spelled once here so that a typo is a NameError, not a silent
mismatch.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["READY_TO_SEND", "DeliveryKind", "DeliveryStatus"]


class DeliveryStatus(StrEnum):
    """Where a delivery is in its life (``deliveries.status``).

    ``scheduled`` (a digest or throttle summary waiting for its time) -> ``pending`` ->
    ``sending`` (claimed by one worker) -> ``sent``, or ``retrying`` -> ``sending`` -> ... ,
    or ``failed`` (permanent, or out of attempts; a person may queue it again).
    """

    SCHEDULED = "scheduled"
    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"


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
