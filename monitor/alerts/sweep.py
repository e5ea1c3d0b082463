"""Sweeping the outbox: what is due to send, claims lost with their worker, digests whose time
has come, and failed deliveries a person queues again.

Nothing here sends; the callers (the beat's sweep, ``monitor run --once``, ``monitor alerts
retry``, the dashboard's retry button) hand the ids on to :func:`monitor.alerts.send.deliver`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from monitor.cas import compare_and_set, update_where
from monitor.logs import get_logger
from monitor.models import Delivery, Destination, utcnow
from monitor.states import READY_TO_SEND, DeliveryStatus

__all__ = ["SEND_TIMEOUT", "due_delivery_ids", "open_due_digests", "retry_deliveries"]

log = get_logger(__name__)

# Longer than any channel's timeout (Slack 15 s, SMTP 30 s per command), so a claim this old
# can only be a worker that died or hung.
SEND_TIMEOUT = timedelta(minutes=5)


def due_delivery_ids(
    session: Session, *, now: datetime | None = None, limit: int = 1000
) -> list[int]:
    """Deliveries to send now: due ``pending``/``retrying`` ones, after putting back the
    claims of workers that died while sending (older than :data:`SEND_TIMEOUT`). Does not
    commit; the caller does."""
    now = now or utcnow()
    stale = session.execute(
        select(Delivery.id, Delivery.claim_token, Delivery.claimed_at, Delivery.payload).where(
            Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < now - SEND_TIMEOUT
        )
    ).all()
    for delivery_id, token, claimed_at, payload in stale:
        # Remember when the lost attempt began: before sending again, a channel that can
        # list what it already accepted (Slack) looks for it there.
        marked = dict(payload or {})
        if claimed_at is not None and "unconfirmed_since" not in marked:
            marked["unconfirmed_since"] = claimed_at.isoformat()
        recovered = compare_and_set(
            session,
            Delivery,
            Delivery.id == delivery_id,
            Delivery.status == DeliveryStatus.SENDING,
            Delivery.claim_token == token,
            status=DeliveryStatus.RETRYING,
            claim_token=None,
            next_attempt_at=now,
            payload=marked,
            last_error="the worker sending it stopped before recording the outcome; "
            "sending again (it may have gone out once already)",
        )
        if recovered:
            log.warning("recovered a lost delivery claim", delivery_id=delivery_id)
    rows = session.scalars(
        select(Delivery.id)
        .where(
            Delivery.status.in_(READY_TO_SEND),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    return list(rows)


def open_due_digests(session: Session, *, now: datetime | None = None) -> list[int]:
    """Scheduled digests and throttle summaries whose time has come become ``pending``;
    returns their ids (to send now). Does not commit; the caller does."""
    now = now or utcnow()
    due = session.scalars(
        select(Delivery.id)
        .where(Delivery.status == DeliveryStatus.SCHEDULED, Delivery.due_at <= now)
        .order_by(Delivery.due_at, Delivery.id)
    ).all()
    opened: list[int] = []
    for delivery_id in due:
        if compare_and_set(
            session,
            Delivery,
            Delivery.id == delivery_id,
            Delivery.status == DeliveryStatus.SCHEDULED,
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
        ):
            opened.append(delivery_id)
    return opened


def retry_deliveries(
    session: Session,
    ids: Sequence[int] | None = None,
    *,
    failed: bool = False,
    now: datetime | None = None,
) -> int:
    """Queue deliveries again: the given ids (failed or waiting to retry) and, with
    ``failed=True``, every failed one. Clears the flag of their destinations, since a person
    says the cause is fixed. Returns how many were queued. Does not commit."""
    now = now or utcnow()
    again = (DeliveryStatus.FAILED, DeliveryStatus.RETRYING)
    conditions: list[ColumnElement[bool]] = []
    if ids:
        conditions.append((Delivery.id.in_(list(ids))) & Delivery.status.in_(again))
    if failed:
        conditions.append(Delivery.status == DeliveryStatus.FAILED)
    if not conditions:
        return 0
    chosen = session.execute(
        select(Delivery.id, Delivery.destination).where(or_(*conditions))
    ).all()
    if not chosen:
        return 0
    chosen_ids = [row[0] for row in chosen]
    update_where(
        session,
        Delivery,
        Delivery.id.in_(chosen_ids),
        Delivery.status.in_(again),
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
        attempts=0,
        claim_token=None,
    )
    update_where(
        session,
        Destination,
        Destination.key.in_({row[1] for row in chosen}),
        failed_at=None,
        last_error=None,
    )
    return len(chosen_ids)
