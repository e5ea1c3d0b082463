"""Alerts that trends put in the outbox: a spike for a watchlist's destinations, a feed's
silence for the ops destinations; one delivery per destination, idempotent by its key.

These messages belong to no single hit: a spike carries the hits of its three headlines, an
ops message none. They go out at once (a digest schedule on a destination is for hits).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.destinations import AlertSpec
from monitor.models import Delivery, DeliveryHit, Destination
from monitor.states import DeliveryKind, DeliveryStatus
from monitor.trends.rows import state_row

__all__ = ["queue_alert"]

MAX_KEY = 400


def _dedupe_key(*parts: object) -> str:
    text = ":".join(str(p) for p in parts)
    if len(text) <= MAX_KEY:
        return text
    return text[: MAX_KEY - 41] + "#" + hashlib.sha256(text.encode()).hexdigest()[:40]


def queue_alert(
    session: Session,
    alerts: Sequence[AlertSpec],
    *,
    kind: DeliveryKind,
    event: str,
    now: datetime,
    watchlist_id: str | None = None,
    hit_ids: Sequence[int] = (),
    payload: dict[str, Any],
) -> list[int]:
    """One pending delivery of *kind* per destination for *event* (a name unique to what
    happened, such as ``spike:WATCHLIST:START``), in the caller's transaction. Queuing the same
    event again adds nothing and returns the deliveries made the first time."""
    ids: list[int] = []
    seen: set[str] = set()
    for alert in alerts:
        if alert.key in seen:
            continue
        seen.add(alert.key)
        state_row(session, Destination, alert.key, key=alert.key, channel=alert.channel)
        key = _dedupe_key(event, alert.key)
        delivery = Delivery(
            dedupe_key=key,
            kind=kind,
            watchlist_id=watchlist_id,
            hit_id=None,
            destination=alert.key,
            channel=alert.channel,
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            payload=payload,
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(delivery)
                session.flush()
                for hit_id in hit_ids:
                    session.add(DeliveryHit(delivery_id=delivery.id, hit_id=hit_id))
                session.flush()
            ids.append(delivery.id)
        except IntegrityError:
            existing = session.scalar(select(Delivery.id).where(Delivery.dedupe_key == key))
            if existing is not None:
                ids.append(int(existing))
    return ids
