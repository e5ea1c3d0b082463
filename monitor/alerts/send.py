"""Sending: claim one delivery, send it through its channel, record the outcome.

:func:`deliver` is one delivery at a time:

1. claim it with a compare-and-set UPDATE (``pending``/``retrying`` and due -> ``sending``,
   new ``claim_token``) and COMMIT, so only one worker ever sends it;
2. build the message from the rows (:mod:`monitor.alerts.compose`) and send it;
3. COMMIT the outcome at once: ``sent`` with the provider's id, or ``retrying`` with the next
   attempt time (exponential backoff with jitter, or the provider's ``Retry-After``), or
   ``failed`` with the reason; a permanent refusal also flags the :class:`Destination`, and
   deliveries to a flagged destination fail fast without sending until a person clears it.

If the worker dies after the provider accepted the message and before step 3 committed, the
sweep (:mod:`monitor.alerts.sweep`) puts the claim back and the message may go out a second
time: see docs/alerts.md. The outbox is the only retry layer: channels never retry.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.alerts.channels import CHANNELS
from monitor.alerts.compose import build_message, with_lost_attempt
from monitor.alerts.latency import observe_alert_latency
from monitor.alerts.message import AlertItem, DeliveryError, Message, SendResult
from monitor.cas import compare_and_set, update_where
from monitor.config import Settings
from monitor.destinations import parse_destination
from monitor.logs import get_logger
from monitor.metrics import DELIVERIES
from monitor.models import Delivery, Destination, utcnow
from monitor.states import READY_TO_SEND, DeliveryKind, DeliveryStatus

__all__ = ["DeliveryOutcome", "backoff_seconds", "deliver", "send_test"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """The state of a delivery after one call to :func:`deliver`."""

    delivery_id: int
    # A DeliveryStatus, or "missing" when no delivery has that id.
    status: str
    attempts: int = 0
    error: str | None = None
    next_attempt_at: datetime | None = None
    provider_message_id: str | None = None
    # False when another worker had it, or it was not due: nothing was sent by this call.
    claimed: bool = True

    @property
    def sent(self) -> bool:
        return self.status == DeliveryStatus.SENT

    def __str__(self) -> str:
        text = self.status if self.claimed else f"{self.status} (not claimed)"
        if self.error:
            text += f": {self.error}"
        if self.status == DeliveryStatus.RETRYING and self.next_attempt_at:
            text += f" (next attempt {self.next_attempt_at.isoformat(timespec='seconds')})"
        return text


def backoff_seconds(
    attempts: int, settings: Settings, *, rng: random.Random | None = None
) -> float:
    """Exponential backoff with jitter: between half and all of ``base * 2**(attempts-1)``,
    capped. The jitter spreads out deliveries that failed together (a Slack outage) so they do
    not all come back at the same second."""
    ceiling = min(
        settings.delivery_backoff_cap, settings.delivery_backoff_base * 2 ** max(0, attempts - 1)
    )
    return (rng or random).uniform(ceiling / 2, ceiling)


def deliver(
    session: Session, delivery_id: int, *, settings: Settings, now: datetime | None = None
) -> DeliveryOutcome:
    """Claim one delivery, send it, record the outcome. Commits (the claim, then the outcome)."""
    now = now or utcnow()
    token = secrets.token_hex(16)
    claimed = compare_and_set(
        session,
        Delivery,
        Delivery.id == delivery_id,
        Delivery.status.in_(READY_TO_SEND),
        or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        status=DeliveryStatus.SENDING,
        claim_token=token,
        claimed_at=now,
        attempts=Delivery.attempts + 1,
    )
    # Committed before sending: from here on, no other worker will send this delivery.
    session.commit()
    delivery = session.execute(
        select(Delivery).where(Delivery.id == delivery_id).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if delivery is None:
        return DeliveryOutcome(delivery_id, "missing", claimed=False)
    if not claimed:
        return _outcome(delivery, claimed=False)

    bound = log.bind(
        delivery_id=delivery.id,
        hit_id=delivery.hit_id,
        watchlist=delivery.watchlist_id,
        channel=delivery.channel,
        destination=delivery.destination,
        kind=delivery.kind,
    )
    destination = session.execute(
        select(Destination)
        .where(Destination.key == delivery.destination)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if destination is not None and destination.failed_at is not None:
        reason = (
            f"destination {destination.key} is flagged as broken "
            f"({destination.last_error or 'no reason recorded'}); "
            "fix it, then run: monitor alerts retry --failed"
        )
        return _finish(
            session, delivery, token, now, DeliveryStatus.FAILED, reason, bound, metric="skipped"
        )

    sender = CHANNELS.get(delivery.channel)
    try:
        if sender is None:
            raise LookupError(f"no channel named {delivery.channel!r}")
        alert = parse_destination(delivery.destination)
        built = build_message(session, delivery, public_url=settings.public_url)
        message = with_lost_attempt(session, delivery, built)
    except (LookupError, ValueError) as exc:
        return _finish(
            session,
            delivery,
            token,
            now,
            DeliveryStatus.FAILED,
            f"cannot build the message: {exc}",
            bound,
        )

    try:
        result = sender(message, alert, settings=settings)
    except DeliveryError as exc:
        error = exc
    except Exception as exc:
        # A bug in a channel must not leave the claim hanging; it is retried like an outage.
        bound.exception("channel raised an unexpected error")
        error = DeliveryError(
            f"internal error in the {delivery.channel} channel: {type(exc).__name__}",
            permanent=False,
        )
    else:
        return _record_sent(session, delivery, token, now, result, bound)
    return _record_failure(session, delivery, token, now, error, settings, bound)


def _record_sent(
    session: Session,
    delivery: Delivery,
    token: str,
    now: datetime,
    result: SendResult,
    bound: Any,
) -> DeliveryOutcome:
    values = {
        "status": DeliveryStatus.SENT,
        "sent_at": now,
        "last_error": None,
        "claim_token": None,
        "next_attempt_at": None,
        "provider_message_id": result.provider_message_id,
        "provider_channel": result.provider_channel,
    }
    if not compare_and_set(
        session, Delivery, Delivery.id == delivery.id, Delivery.claim_token == token, **values
    ):
        # Our claim was taken for stale while we sent (a very slow provider): record the send
        # anyway so nobody sends it a third time.
        bound.warning("claim was recovered while sending; recording the send anyway")
        update_where(
            session,
            Delivery,
            Delivery.id == delivery.id,
            Delivery.status != DeliveryStatus.SENT,
            **values,
        )
    update_where(session, Destination, Destination.key == delivery.destination, last_success_at=now)
    session.commit()
    DELIVERIES.labels(delivery.channel, DeliveryStatus.SENT).inc()
    observe_alert_latency(session, delivery, now=now)
    bound.info(
        "alert sent", provider_message_id=result.provider_message_id, attempts=delivery.attempts
    )
    session.refresh(delivery)
    return _outcome(delivery)


def _record_failure(
    session: Session,
    delivery: Delivery,
    token: str,
    now: datetime,
    error: DeliveryError,
    settings: Settings,
    bound: Any,
) -> DeliveryOutcome:
    if error.permanent:
        if error.destination_broken:
            update_where(
                session,
                Destination,
                Destination.key == delivery.destination,
                failed_at=now,
                last_error=error.message,
            )
        return _finish(session, delivery, token, now, DeliveryStatus.FAILED, error.message, bound)
    if delivery.attempts >= settings.delivery_max_attempts:
        reason = f"gave up after {delivery.attempts} attempts: {error.message}"
        return _finish(session, delivery, token, now, DeliveryStatus.FAILED, reason, bound)
    if error.retry_after is not None:
        # The provider said when: that is the wait, not our guess.
        delay = error.retry_after
    else:
        delay = backoff_seconds(delivery.attempts, settings)
    return _finish(
        session,
        delivery,
        token,
        now,
        DeliveryStatus.RETRYING,
        error.message,
        bound,
        next_attempt_at=now + timedelta(seconds=delay),
    )


def _finish(
    session: Session,
    delivery: Delivery,
    token: str,
    now: datetime,
    status: DeliveryStatus,
    error: str,
    bound: Any,
    *,
    next_attempt_at: datetime | None = None,
    metric: str | None = None,
) -> DeliveryOutcome:
    update_where(
        session,
        Delivery,
        Delivery.id == delivery.id,
        Delivery.claim_token == token,
        status=status,
        last_error=error,
        claim_token=None,
        next_attempt_at=next_attempt_at,
    )
    session.commit()
    DELIVERIES.labels(delivery.channel, metric or status).inc()
    if status == DeliveryStatus.FAILED:
        bound.warning("alert failed", error=error, attempts=delivery.attempts)
    else:
        bound.info(
            "alert will be retried",
            error=error,
            attempts=delivery.attempts,
            next_attempt_at=next_attempt_at.isoformat() if next_attempt_at else None,
        )
    session.refresh(delivery)
    return _outcome(delivery)


def _outcome(delivery: Delivery, *, claimed: bool = True) -> DeliveryOutcome:
    return DeliveryOutcome(
        delivery_id=delivery.id,
        status=delivery.status,
        attempts=delivery.attempts,
        error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at,
        provider_message_id=delivery.provider_message_id,
        claimed=claimed,
    )


def send_test(destination: str, *, settings: Settings) -> SendResult:
    """Send a test message to ``slack:#desk``, ``webhook:VAR``, ``email:a@x.org`` or
    ``console``, without the outbox; raises :class:`DeliveryError` or ``ValueError``."""
    alert = parse_destination(destination)
    item = AlertItem(
        watchlist_id="test",
        watchlist_name="monitor test",
        title="Test alert: this destination works",
        source="monitor",
        published_at=utcnow(),
        snippet="If you can read this, alerts for this destination will arrive here.",
        highlights=((22, 28),),
    )
    message = Message(kind=DeliveryKind.TEST, items=(item,), heading="Test alert from monitor")
    return CHANNELS[alert.channel](message, alert, settings=settings)
