"""The actions a person takes on a hit, from any transport, applied once and undoable.

:func:`apply_action` is the one way in, for Slack buttons, signed email links and dashboard
forms alike: the transport proves who the person is and builds an :class:`ActionRequest`.
Every request becomes a row of ``hit_actions`` (the log behind each label, mute and snooze),
written before anything changes:

- a request carrying a ``key`` (Slack's ``action_ts``, an email link's token id, a dashboard
  form's nonce) is applied once: the unique key makes a replay, or a second worker racing
  the first, find the first act and change nothing;
- a request without one that finds the state already so (a second click on "Not relevant")
  is logged with ``changed=False`` and changes nothing either.

Each change is a compare-and-set on what the caller read (:mod:`monitor.cas`), and
:func:`undo_action` puts back what its act changed, unless someone changed it again since.
Nothing here commits: the caller's transaction holds the act and its effects together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.cas import compare_and_set
from monitor.db import open_transaction
from monitor.errors import UserError
from monitor.logs import get_logger
from monitor.models import Delivery, Hit, HitAction, Snooze, utcnow
from monitor.states import HitLabel
from monitor.triage.labels import restore_label, set_label
from monitor.triage.mutes import lift_mute, mute_story, muted_scope, story_muted
from monitor.triage.snoozes import EVERY_DESTINATION, end_snooze, snooze

__all__ = [
    "SNOOZE_LENGTHS",
    "VIAS",
    "Action",
    "ActionError",
    "ActionOutcome",
    "ActionRequest",
    "apply_action",
    "undo_action",
]

log = get_logger(__name__)

#: Where a person can act from.
VIAS = ("slack", "email", "dashboard")
# Past this a name is not a name; keys past it are hashed (the column holds 200).
WHO_LIMIT = 200
KEY_LIMIT = 200


class Action(StrEnum):
    """What a person can do to a hit where its alert lands."""

    RELEVANT = "relevant"
    NOT_RELEVANT = "not_relevant"
    MUTE_STORY = "mute_story"
    SNOOZE_1H = "snooze_1h"
    SNOOZE_1D = "snooze_1d"
    SNOOZE_1W = "snooze_1w"

    @property
    def label(self) -> str:
        """The button's text."""
        return _LABELS[self]


_LABELS = {
    Action.RELEVANT: "Relevant",
    Action.NOT_RELEVANT: "Not relevant",
    Action.MUTE_STORY: "Mute story",
    Action.SNOOZE_1H: "Snooze 1 hour",
    Action.SNOOZE_1D: "Snooze 1 day",
    Action.SNOOZE_1W: "Snooze 1 week",
}

#: How long each snooze lasts, and how a person says it.
SNOOZE_LENGTHS: dict[Action, tuple[timedelta, str]] = {
    Action.SNOOZE_1H: (timedelta(hours=1), "1 hour"),
    Action.SNOOZE_1D: (timedelta(days=1), "1 day"),
    Action.SNOOZE_1W: (timedelta(weeks=1), "1 week"),
}

_LABELLING = {Action.RELEVANT: HitLabel.RELEVANT, Action.NOT_RELEVANT: HitLabel.NOT_RELEVANT}


class ActionError(UserError):
    """A request that cannot be applied: no such hit or act, an unknown action, no name."""


@dataclass(frozen=True)
class ActionRequest:
    """One person's request, from one transport."""

    hit_id: int
    action: Action
    who: str
    via: str  # "slack" | "email" | "dashboard"
    # The delivery (the alert message) the person acted on, when there is one: its
    # destination is where a snooze applies. Without it (or ``destination``), a snooze holds
    # every destination of the watchlist.
    destination_id: int | None = None
    # The idempotency key: a request repeated with the same key changes nothing.
    key: str | None = None
    # A destination key (``slack:#desk``) to snooze at, for callers that know it directly.
    destination: str | None = None


@dataclass(frozen=True)
class ActionOutcome:
    """What came of a request: the act's id (for its undo), whether anything changed, and a
    line for the person ("Marked not relevant by Ada at 12:03 UTC")."""

    act_id: int
    changed: bool
    summary: str


def _clock(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%H:%M} UTC"


def _when(moment: datetime, now: datetime) -> str:
    """A time of day, with its date when it is not today."""
    moment, now = moment.astimezone(UTC), now.astimezone(UTC)
    if moment.date() == now.date():
        return _clock(moment)
    return f"{moment:%a %d %b} {_clock(moment)}"


def _normal_key(via: str, key: str | None) -> str | None:
    if not key:
        return None
    text = f"{via}:{key}"
    if len(text) <= KEY_LIMIT:
        return text
    return f"{via}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _who(who: str) -> str:
    name = " ".join(str(who or "").split())[:WHO_LIMIT]
    if not name:
        raise ActionError("an action needs the name of the person taking it")
    return name


def apply_action(
    session: Session, request: ActionRequest, *, now: datetime | None = None
) -> ActionOutcome:
    """Apply *request* once, in the caller's transaction (no commit)."""
    now = now or utcnow()
    who = _who(request.who)
    if request.via not in VIAS:
        raise ActionError(f"unknown place to act from {request.via!r}: one of {', '.join(VIAS)}")
    try:
        action = Action(request.action)
    except ValueError:
        raise ActionError(f"unknown action {request.action!r}") from None
    hit = session.get(Hit, request.hit_id)
    if hit is None:
        raise ActionError(f"no hit {request.hit_id}")
    key = _normal_key(request.via, request.key)
    if key is not None:
        earlier = _by_key(session, key)
        if earlier is not None:
            return _replay(earlier)
    scope = _snooze_scope(session, request) if action in SNOOZE_LENGTHS else None
    act = HitAction(
        hit_id=hit.id,
        action=action,
        who=who,
        via=request.via,
        destination=scope,
        key=key,
        created_at=now,
        changed=False,
        detail={},
    )
    open_transaction(session)  # the act and its effects commit together, or not at all
    try:
        # The act is written before anything changes: its unique key is the claim.
        with session.begin_nested():
            session.add(act)
    except IntegrityError:
        earlier = _by_key(session, key) if key is not None else None
        if earlier is None:
            raise
        return _replay(earlier)
    detail, summary = _apply(session, hit, action, who=who, scope=scope, now=now)
    act.changed = detail is not None
    act.detail = {**(detail or {}), "summary": summary}
    session.flush()
    log.info(
        "hit action",
        hit_id=hit.id,
        watchlist=hit.watchlist_id,
        action=str(action),
        via=request.via,
        act_id=act.id,
        changed=act.changed,
    )
    return ActionOutcome(act.id, act.changed, summary)


def _by_key(session: Session, key: str) -> HitAction | None:
    return session.scalars(select(HitAction).where(HitAction.key == key)).first()


def _replay(act: HitAction) -> ActionOutcome:
    return ActionOutcome(act.id, False, str((act.detail or {}).get("summary", "")))


def _snooze_scope(session: Session, request: ActionRequest) -> str:
    if request.destination:
        return request.destination
    if request.destination_id is not None:
        delivery = session.get(Delivery, request.destination_id)
        if delivery is None:
            raise ActionError(f"no delivery {request.destination_id}")
        if delivery.hit_id is not None and delivery.hit_id != request.hit_id:
            raise ActionError(f"delivery {delivery.id} is not about hit {request.hit_id}")
        return delivery.destination
    return EVERY_DESTINATION


def _apply(
    session: Session, hit: Hit, action: Action, *, who: str, scope: str | None, now: datetime
) -> tuple[dict[str, Any] | None, str]:
    by = f"by {who} at {_clock(now)}"
    if action in _LABELLING:
        label = _LABELLING[action]
        detail = set_label(session, hit, label, who=who, now=now)
        if detail is not None:
            return detail, f"Marked {label.label} {by}"
        when = _clock(hit.labelled_at) if hit.labelled_at else "?"
        return None, f"Already marked {label.label} (by {hit.labelled_by} at {when})"
    if action == Action.MUTE_STORY:
        detail = mute_story(session, hit, who=who, now=now)
        if detail is not None:
            return detail, f"Story muted {by}"
        mute = story_muted(session, hit.watchlist_id, muted_scope(hit))
        if mute is None:
            return None, "Story already muted"
        return None, f"Story already muted (by {mute.muted_by} at {_clock(mute.muted_at)})"
    length, spoken = SNOOZE_LENGTHS[action]
    where = scope or EVERY_DESTINATION
    detail = snooze(session, hit.watchlist_id, where, length, who=who, now=now)
    there = f" at {where}" if where else ""
    if detail is not None:
        until = datetime.fromisoformat(str(detail["until"]))
        return detail, f"Snoozed{there} for {spoken} {by}, until {_when(until, now)}"
    current = session.scalars(
        select(Snooze)
        .where(
            Snooze.watchlist_id == hit.watchlist_id,
            Snooze.destination == where,
            Snooze.ended_at.is_(None),
            Snooze.until > now,
        )
        .order_by(Snooze.until.desc())
    ).first()
    if current is None:
        return None, f"Already snoozed{there}"
    return None, (
        f"Already snoozed{there} until {_when(current.until, now)} (by {current.snoozed_by})"
    )


def undo_action(
    session: Session, act_id: int, *, who: str, now: datetime | None = None
) -> ActionOutcome:
    """Take back act *act_id*, in the caller's transaction (no commit). Undoing twice, or an
    act that changed nothing, changes nothing; an act whose change someone has changed again
    since is marked undone and leaves their change standing."""
    now = now or utcnow()
    name = _who(who)
    act = session.get(HitAction, act_id)
    if act is None:
        raise ActionError(f"no action {act_id}")
    if act.undone_at is not None:
        return ActionOutcome(
            act.id, False, f"Already undone (by {act.undone_by} at {_clock(act.undone_at)})"
        )
    if not act.changed:
        return ActionOutcome(act.id, False, "Nothing to undo: that click changed nothing")
    if not compare_and_set(
        session,
        HitAction,
        HitAction.id == act.id,
        HitAction.undone_at.is_(None),
        undone_at=now,
        undone_by=name,
    ):
        session.refresh(act)
        return ActionOutcome(act.id, False, f"Already undone (by {act.undone_by})")
    action = Action(act.action)
    detail = dict(act.detail or {})
    what = _UNDONE[action] if action in _UNDONE else f"snooze ({action.label.lower()})"
    by = f"by {name} at {_clock(now)}"
    if action in _LABELLING:
        reverted = restore_label(session, act.hit_id, detail, at=act.created_at)
    elif action == Action.MUTE_STORY:
        reverted = lift_mute(session, detail, now=now)
    else:
        reverted = end_snooze(session, detail, now=now)
    if reverted:
        summary = f"Undone {by}: {what}"
    else:
        summary = f"Undone {by}, but someone has changed it since: {what} left as it is"
    session.refresh(act)
    # Kept with the act, so the page the person lands on next can say what the undo did.
    act.detail = {**detail, "undo_summary": summary}
    session.flush()
    log.info("hit action undone", hit_id=act.hit_id, act_id=act.id, reverted=reverted)
    return ActionOutcome(act.id, reverted, summary)


_UNDONE = {
    Action.RELEVANT: "marked relevant",
    Action.NOT_RELEVANT: "marked not relevant",
    Action.MUTE_STORY: "story muted",
}
