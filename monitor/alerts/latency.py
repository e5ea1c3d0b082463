"""How long a reader waited: from an article coming out to its alert's delivery, observed
in the ``monitor_alert_latency_seconds`` histogram when a delivery is sent.

The clock starts at the article's published time when the feed gave one earlier than our
first sight of it (``since="published"``: the wait includes the poll interval), else at that
first sight (``since="first_seen"``: a feed with no dates, or with dates in the future,
measures only our own part). A digest or throttle summary counts once for each hit it carries,
since each article waited its own time; a follow-up or escalation is about a story already
alerted, and is left out.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.metrics import ALERT_LATENCY
from monitor.models import Article, Delivery, DeliveryHit, Hit
from monitor.states import DeliveryKind

__all__ = ["observe_alert_latency", "waited"]

MEASURED = (DeliveryKind.INSTANT, DeliveryKind.DIGEST, DeliveryKind.THROTTLE)


def waited(
    published_at: datetime | None, first_seen_at: datetime | None, *, now: datetime
) -> tuple[float, str] | None:
    """Seconds from the article coming out to *now*, and which clock started it; None
    when the article has no time at all."""
    started, since = first_seen_at, "first_seen"
    if published_at is not None and (first_seen_at is None or published_at < first_seen_at):
        started, since = published_at, "published"
    if started is None:
        return None
    if started.tzinfo is None:  # SQLite hands back naive UTC through a raw select
        started = started.replace(tzinfo=UTC)
    return max(0.0, (now - started).total_seconds()), since


def observe_alert_latency(session: Session, delivery: Delivery, *, now: datetime) -> None:
    """Observe the wait of every article the sent *delivery* alerted about (one statement)."""
    if delivery.kind not in MEASURED:
        return
    rows = session.execute(
        select(Article.published_at, Article.first_seen_at)
        .join(Hit, Hit.article_id == Article.id)
        .join(DeliveryHit, DeliveryHit.hit_id == Hit.id)
        .where(DeliveryHit.delivery_id == delivery.id)
    )
    for published_at, first_seen_at in rows:
        wait = waited(published_at, first_seen_at, now=now)
        if wait is not None:
            seconds, since = wait
            ALERT_LATENCY.labels(delivery.channel, delivery.kind, since).observe(seconds)
