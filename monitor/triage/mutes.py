"""A story muted for one watchlist: nothing more about it goes to that watchlist's
destinations, and what was still waiting to go is held back.

Muting takes effect in two places:

- from now on, :mod:`monitor.alerts.record` asks :func:`story_muted` before it owes anything
  for the story: a later copy adds no thread reply and no escalation, and a new hit of the
  story (after the story window) is recorded as ``muted`` with no delivery;
- what the story already owed and has not sent is held back now: its instant alerts, thread
  replies and escalations still waiting become ``cancelled``, and its hits leave the digests,
  throttle and snooze summaries that have not gone out (a summary left empty is cancelled).

Each of those is remembered in the act, so lifting the mute (an undo) queues them again and
puts the hits back in the summaries still waiting. A message already being sent when the mute
lands goes out: its claim is another worker's.

A hit outside any story is its own scope (``hit:<id>``), so muting it holds back what that
hit alone still owes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.cas import compare_and_set
from monitor.models import Delivery, DeliveryHit, Hit, StoryMute
from monitor.states import READY_TO_SEND, DeliveryKind, DeliveryStatus

__all__ = ["GROUPED", "lift_mute", "mute_story", "muted_scope", "story_muted"]

#: Deliveries that gather many hits and wait for their time (``scheduled``).
GROUPED = (DeliveryKind.DIGEST, DeliveryKind.THROTTLE, DeliveryKind.SNOOZE)
#: Deliveries about one hit, sent as soon as they are due.
SINGLE = (DeliveryKind.INSTANT, DeliveryKind.FOLLOWUP, DeliveryKind.ESCALATION)


def muted_scope(hit: Hit) -> str:
    """The scope a mute of *hit* covers: its story, else the hit alone."""
    return f"story:{hit.story_id}" if hit.story_id is not None else f"hit:{hit.id}"


def story_muted(session: Session, watchlist_id: str, scope: str) -> StoryMute | None:
    """The mute in force on *scope* for the watchlist, if any."""
    return session.scalars(
        select(StoryMute).where(
            StoryMute.watchlist_id == watchlist_id,
            StoryMute.scope == scope,
            StoryMute.lifted_at.is_(None),
        )
    ).first()


def mute_story(session: Session, hit: Hit, *, who: str, now: datetime) -> dict[str, Any] | None:
    """Mute *hit*'s story for its watchlist and hold back what it still owes; what an undo
    needs, or None when the story was muted already."""
    scope = muted_scope(hit)
    mute = session.scalars(
        select(StoryMute).where(
            StoryMute.watchlist_id == hit.watchlist_id, StoryMute.scope == scope
        )
    ).first()
    if mute is None:
        mute = StoryMute(
            watchlist_id=hit.watchlist_id,
            scope=scope,
            story_id=hit.story_id,
            hit_id=hit.id,
            muted_by=who,
            muted_at=now,
        )
        try:
            with session.begin_nested():
                session.add(mute)
        except IntegrityError:
            return None  # muted a moment ago by someone else
    elif not compare_and_set(
        session,
        StoryMute,
        StoryMute.id == mute.id,
        StoryMute.lifted_at.is_not(None),
        lifted_at=None,
        muted_by=who,
        muted_at=now,
    ):
        return None  # in force already
    held = _hold_back(session, hit, scope, who)
    return {"mute_id": mute.id, "scope": scope, "muted_at": now.isoformat(), **held}


def _scope_hits(session: Session, hit: Hit, scope: str) -> list[int]:
    if scope.startswith("hit:"):
        return [hit.id]
    return list(
        session.scalars(
            select(Hit.id).where(Hit.watchlist_id == hit.watchlist_id, Hit.story_id == hit.story_id)
        )
    )


def _hold_back(session: Session, hit: Hit, scope: str, who: str) -> dict[str, Any]:
    hit_ids = _scope_hits(session, hit, scope)
    reason = f"story muted by {who}"
    waiting = session.scalars(
        select(Delivery.id).where(
            Delivery.hit_id.in_(hit_ids),
            Delivery.kind.in_(SINGLE),
            Delivery.status.in_(READY_TO_SEND),
        )
    ).all()
    cancelled = [
        delivery_id
        for delivery_id in waiting
        if compare_and_set(
            session,
            Delivery,
            Delivery.id == delivery_id,
            Delivery.status.in_(READY_TO_SEND),
            status=DeliveryStatus.CANCELLED,
            last_error=reason,
        )
    ]
    entries = session.execute(
        select(DeliveryHit.delivery_id, DeliveryHit.hit_id)
        .join(Delivery, Delivery.id == DeliveryHit.delivery_id)
        .where(
            DeliveryHit.hit_id.in_(hit_ids),
            Delivery.kind.in_(GROUPED),
            Delivery.status == DeliveryStatus.SCHEDULED,
        )
    ).all()
    removed: list[list[int]] = []
    emptied: list[int] = []
    for group_id, hit_id in entries:
        # The same touch as recording uses: only while the group waits, and on PostgreSQL it
        # holds the row until we commit, so the group cannot be opened half-changed.
        if not _touch(session, group_id, DeliveryStatus.SCHEDULED):
            continue
        session.execute(
            delete(DeliveryHit).where(
                DeliveryHit.delivery_id == group_id, DeliveryHit.hit_id == hit_id
            )
        )
        removed.append([group_id, hit_id])
        left = session.scalar(
            select(func.count()).select_from(DeliveryHit).where(DeliveryHit.delivery_id == group_id)
        )
        if not left and compare_and_set(
            session,
            Delivery,
            Delivery.id == group_id,
            Delivery.status == DeliveryStatus.SCHEDULED,
            status=DeliveryStatus.CANCELLED,
            last_error=reason,
        ):
            emptied.append(group_id)
    session.expire_all()
    return {"cancelled": cancelled, "removed": removed, "emptied": emptied}


def _touch(session: Session, delivery_id: int, status: DeliveryStatus) -> bool:
    return compare_and_set(
        session,
        Delivery,
        Delivery.id == delivery_id,
        Delivery.status == status,
        due_at=Delivery.due_at,
    )


def lift_mute(session: Session, detail: dict[str, Any], *, now: datetime) -> bool:
    """Lift the mute an act put in force and queue again what it held back; False when it was
    lifted already."""
    if not compare_and_set(
        session,
        StoryMute,
        StoryMute.id == int(detail.get("mute_id", 0)),
        StoryMute.lifted_at.is_(None),
        # Only the mute this act put in force: muted again by a later act, it is that act's.
        StoryMute.muted_at == datetime.fromisoformat(str(detail.get("muted_at"))),
        lifted_at=now,
    ):
        return False
    # Alerts back to the queue, and emptied summaries back to waiting for their time.
    for key, status in (
        ("cancelled", DeliveryStatus.PENDING),
        ("emptied", DeliveryStatus.SCHEDULED),
    ):
        for delivery_id in detail.get(key, []):
            compare_and_set(
                session,
                Delivery,
                Delivery.id == int(delivery_id),
                Delivery.status == DeliveryStatus.CANCELLED,
                status=status,
                next_attempt_at=now if status == DeliveryStatus.PENDING else Delivery.due_at,
                last_error=None,
            )
    for group_id, hit_id in detail.get("removed", []):
        # Back into summaries still waiting; one that went out meanwhile went without it.
        if _touch(session, int(group_id), DeliveryStatus.SCHEDULED) and (
            session.get(DeliveryHit, (int(group_id), int(hit_id))) is None
        ):
            session.add(DeliveryHit(delivery_id=int(group_id), hit_id=int(hit_id)))
    session.flush()
    session.expire_all()
    return True
