"""What has been done to a hit, for its page: its label, its story's mute, its watchlist's
snoozes, and the acts behind them with what each one's undo would take back; and where its
alerts went, the destinations a snooze from the page can hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.models import Delivery, DeliveryHit, Hit, HitAction, Snooze
from monitor.triage.actions import Action
from monitor.triage.mutes import muted_scope, story_muted

__all__ = ["hit_destinations", "hit_triage"]

# The newest acts shown on a hit's page.
ACTS_SHOWN = 20


def hit_triage(session: Session, hit_id: int, *, now: datetime) -> dict[str, Any] | None:
    """The hit's mute, the snoozes of its watchlist in force, and its latest acts (newest
    first); None when there is no such hit."""
    hit = session.get(Hit, hit_id)
    if hit is None:
        return None
    mute = story_muted(session, hit.watchlist_id, muted_scope(hit))
    snoozes = session.scalars(
        select(Snooze)
        .where(
            Snooze.watchlist_id == hit.watchlist_id,
            Snooze.ended_at.is_(None),
            Snooze.starts_at <= now,
            Snooze.until > now,
        )
        .order_by(Snooze.until)
    ).all()
    acts = session.scalars(
        select(HitAction)
        .where(HitAction.hit_id == hit_id)
        .order_by(HitAction.created_at.desc(), HitAction.id.desc())
        .limit(ACTS_SHOWN)
    ).all()
    return {
        "destinations": hit_destinations(session, hit_id),
        "muted": (
            {"by": mute.muted_by, "at": mute.muted_at.isoformat(), "story": hit.story_id}
            if mute is not None
            else None
        ),
        "snoozes": [
            {
                "destination": s.destination or "every destination",
                "until": s.until.isoformat(),
                "by": s.snoozed_by,
            }
            for s in snoozes
        ],
        "acts": [
            {
                "id": act.id,
                "action": act.action,
                "action_text": _text(act.action),
                "who": act.who,
                "via": act.via,
                "at": act.created_at.isoformat(),
                "summary": str((act.detail or {}).get("summary", "")),
                "undo_summary": str((act.detail or {}).get("undo_summary", "")),
                "changed": act.changed,
                "undone_at": act.undone_at.isoformat() if act.undone_at else None,
                "undone_by": act.undone_by,
                "undoable": act.changed and act.undone_at is None,
            }
            for act in acts
        ],
    }


def hit_destinations(session: Session, hit_id: int) -> list[str]:
    """The destinations the hit's alerts went (or are going) to, by key."""
    return list(
        session.scalars(
            select(Delivery.destination)
            .join(DeliveryHit, DeliveryHit.delivery_id == Delivery.id)
            .where(DeliveryHit.hit_id == hit_id)
            .distinct()
            .order_by(Delivery.destination)
        )
    )


def _text(action: str) -> str:
    try:
        return Action(action).label
    except ValueError:  # an action of a newer version
        return action
