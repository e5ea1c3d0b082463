"""Polls counted per clock hour and outcome (``poll_counts``), for the feed-health chart.

One row per hour and outcome, incremented in place, so a year of polling is at most 8,760
rows per outcome however many feeds there are.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.models import PollCount

__all__ = ["count_poll"]


def count_poll(session: Session, outcome: str, *, now: datetime) -> None:
    """Add one poll that ended in *outcome* to *now*'s hour, in the caller's transaction.

    An atomic increment first; the row is created only when the hour has none, and a worker
    that loses that race increments the winner's row."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    bump = (
        update(PollCount)
        .where(PollCount.hour == hour, PollCount.outcome == outcome)
        .values(count=PollCount.count + 1)
        .execution_options(synchronize_session=False)
    )
    if session.execute(bump).rowcount:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():
            session.add(PollCount(hour=hour, outcome=outcome, count=1))
    except IntegrityError:
        session.execute(bump)
