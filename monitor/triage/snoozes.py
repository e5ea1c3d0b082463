"""A watchlist snoozed at a destination: its alerts there are held until the snooze ends, then
go out as one summary, 'N hits while snoozed', with a link to each.

While a snooze is in force, :mod:`monitor.alerts.record` puts every hit the watchlist would
alert on at that destination (a first alert, a digest entry, a throttled hit, a thread reply or
an escalation) into the snooze's summary instead: a ``snooze`` delivery, ``scheduled`` until
the snooze's end, like a digest. Nothing is dropped, and a snooze that held nothing sends
nothing. Ending a snooze early (an undo) brings its summary's time forward to now; snoozing
again for longer moves the end, and the summary's time with it.

A snooze covers one destination key (``slack:#desk``), or every destination of the watchlist
(``''``), as the person chose where they acted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.cas import compare_and_set
from monitor.models import Delivery, Snooze
from monitor.states import DeliveryKind, DeliveryStatus

__all__ = ["EVERY_DESTINATION", "active_snooze", "end_snooze", "snooze", "summary_key_prefix"]

#: The scope of a snooze that holds every destination of the watchlist.
EVERY_DESTINATION = ""


def summary_key_prefix(snooze_id: int) -> str:
    """How the dedupe keys of a snooze's summaries begin (one summary per destination)."""
    return f"snooze:{snooze_id}:"


def active_snooze(
    session: Session, watchlist_id: str, destination: str, *, now: datetime
) -> Snooze | None:
    """The snooze holding the watchlist's alerts to *destination* now, if any: of several,
    the one that ends last."""
    return session.scalars(
        select(Snooze)
        .where(
            Snooze.watchlist_id == watchlist_id,
            or_(Snooze.destination == destination, Snooze.destination == EVERY_DESTINATION),
            Snooze.ended_at.is_(None),
            Snooze.starts_at <= now,
            Snooze.until > now,
        )
        .order_by(Snooze.until.desc(), Snooze.id.desc())
        .limit(1)
    ).first()


def snooze(
    session: Session,
    watchlist_id: str,
    destination: str,
    length: timedelta,
    *,
    who: str,
    now: datetime,
) -> dict[str, Any] | None:
    """Snooze the watchlist at *destination* for *length*; what an undo needs, or None when a
    snooze of that scope already lasts as long.

    The end is cut to the minute, so a second click on the same button is the same snooze."""
    until = (now + length).replace(second=0, microsecond=0)
    current = session.scalars(
        select(Snooze)
        .where(
            Snooze.watchlist_id == watchlist_id,
            Snooze.destination == destination,
            Snooze.ended_at.is_(None),
            Snooze.until > now,
        )
        .order_by(Snooze.until.desc())
        .limit(1)
    ).first()
    if current is not None:
        if current.until >= until:
            return None
        previous = current.until
        if not compare_and_set(
            session, Snooze, Snooze.id == current.id, Snooze.until == previous, until=until
        ):
            return None  # moved a moment ago by someone else
        _move_summaries(session, current.id, until)
        return {
            "snooze_id": current.id,
            "until": until.isoformat(),
            "previous_until": previous.isoformat(),
        }
    row = Snooze(
        watchlist_id=watchlist_id,
        destination=destination,
        starts_at=now,
        until=until,
        snoozed_by=who,
    )
    session.add(row)
    session.flush()
    return {"snooze_id": row.id, "until": until.isoformat()}


def end_snooze(session: Session, detail: dict[str, Any], *, now: datetime) -> bool:
    """Undo what an act did to a snooze: end the snooze it began, or give back the end it
    moved. Its summary goes out at the new end (now, when it ended). False when the snooze
    is no longer as the act left it."""
    snooze_id = int(detail.get("snooze_id", 0))
    until = datetime.fromisoformat(str(detail.get("until")))
    previous = detail.get("previous_until")
    earlier = datetime.fromisoformat(str(previous)) if previous is not None else None
    # An act that began the snooze ends it; one that moved its end moves it back.
    values: dict[str, Any] = {"ended_at": now} if earlier is None else {"until": earlier}
    if not compare_and_set(
        session,
        Snooze,
        Snooze.id == snooze_id,
        Snooze.until == until,
        Snooze.ended_at.is_(None),
        **values,
    ):
        return False
    _move_summaries(session, snooze_id, now if earlier is None else max(earlier, now))
    return True


def _move_summaries(session: Session, snooze_id: int, due_at: datetime) -> None:
    """Send the snooze's waiting summaries at *due_at*, and say so in their period."""
    waiting = session.scalars(
        select(Delivery).where(
            Delivery.kind == DeliveryKind.SNOOZE,
            Delivery.dedupe_key.startswith(summary_key_prefix(snooze_id), autoescape=True),
            Delivery.status == DeliveryStatus.SCHEDULED,
        )
    ).all()
    for summary in waiting:
        compare_and_set(
            session,
            Delivery,
            Delivery.id == summary.id,
            Delivery.status == DeliveryStatus.SCHEDULED,
            due_at=due_at,
            next_attempt_at=due_at,
            payload={**(summary.payload or {}), "end": due_at.isoformat()},
        )
    session.expire_all()
