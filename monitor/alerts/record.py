"""Recording hits: each match becomes a hit row and the deliveries it owes, in one transaction.

:func:`record_hits` runs in the matching transaction, with the article marked matched, so a
hit never exists without its deliveries and a worker killed half-way leaves nothing half-done.
For each destination of the watchlist a hit becomes one of:

- an instant delivery (``pending``, sent at once);
- a place in the destination's open digest for the period (``scheduled`` until the period
  ends), shared by every watchlist that sends there on that schedule;
- past the watchlist's throttle, a place in the window's summary (``scheduled`` until the
  window ends);
- for a later copy of a story the watchlist already alerted on, no new hit at all: the copy is
  attached to the first hit, goes into its Slack thread, and at ``escalate_at`` sources one
  escalation goes to every destination.

A hit whose article is old news or a new feed's backlog (:mod:`monitor.alerts.silence`) is
recorded with its reason in ``hits.not_alerted`` and owes nothing: no delivery, no place in a
summary, no count against the throttle, no thread reply or escalation for its story. A hit that
went into a throttle summary instead of an instant alert says ``throttled``. A story a person
muted for the watchlist owes nothing either (``muted``), and while the watchlist is snoozed at
a destination, whatever it owes there goes into the snooze's summary (:mod:`monitor.triage`).

Every delivery has a ``dedupe_key``, so recording the same article twice (a redelivered task,
two workers) adds nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.alerts.silence import STALE, silent_reason
from monitor.cas import compare_and_set, update_where
from monitor.config import Settings
from monitor.db import open_transaction
from monitor.destinations import (
    AlertSpec,
    DigestSchedule,
    WatchlistAlerts,
    destinations_for,
    parse_throttle,
)
from monitor.matching import MatchResult
from monitor.metrics import HITS
from monitor.models import (
    Article,
    Delivery,
    DeliveryHit,
    Destination,
    Hit,
    HitArticle,
    Snooze,
    utcnow,
)
from monitor.states import SILENT, DeliveryKind, DeliveryStatus, NotAlerted
from monitor.triage.mutes import story_muted
from monitor.triage.snoozes import active_snooze, summary_key_prefix

__all__ = ["digest_period", "record_hits", "thread_parent"]

MAX_KEY = 400


def _ensure_destination(session: Session, alert: AlertSpec) -> None:
    if session.get(Destination, alert.key) is not None:
        return
    try:
        with session.begin_nested():
            session.add(Destination(key=alert.key, channel=alert.channel))
    except IntegrityError:
        pass  # another worker created it a moment ago


def _key(*parts: object) -> str:
    """A dedupe key; a very long one (many email addresses) is shortened by a hash."""
    text = ":".join(str(p) for p in parts)
    if len(text) <= MAX_KEY:
        return text
    return text[: MAX_KEY - 41] + "#" + hashlib.sha1(text.encode()).hexdigest()  # noqa: S324


def record_hits(
    session: Session,
    article: Article,
    results: Sequence[MatchResult],
    *,
    watchlists: Mapping[str, WatchlistAlerts],
    settings: Settings,
    now: datetime | None = None,
) -> list[int]:
    """Store a hit per result and its deliveries, in the caller's transaction (no commit).

    Returns the ids of the deliveries to send now; digests and throttle summaries wait for
    :func:`open_due_digests`. Recording the same article again adds nothing.
    """
    now = now or utcnow()
    open_transaction(session)
    silent = silent_reason(article, settings=settings, now=now) if results else None
    delivery_ids: list[int] = []
    for result in results:
        watchlist = watchlists.get(result.watchlist_id)
        delivery_ids.extend(
            _record_one(session, article, result, watchlist, settings, now, silent=silent)
        )
    return delivery_ids


def _record_one(
    session: Session,
    article: Article,
    result: MatchResult,
    watchlist: WatchlistAlerts | None,
    settings: Settings,
    now: datetime,
    *,
    silent: NotAlerted | None,
) -> list[int]:
    watchlist_id = result.watchlist_id
    existing = session.scalar(
        select(Hit.id).where(Hit.watchlist_id == watchlist_id, Hit.article_id == article.id)
    )
    if existing is not None:
        return []
    if (
        silent is None
        and article.story_id is not None
        and story_muted(session, watchlist_id, f"story:{article.story_id}") is not None
    ):
        silent = NotAlerted.MUTED
    if article.story_id is not None:
        earlier = session.scalars(
            select(Hit)
            .where(
                Hit.watchlist_id == watchlist_id,
                Hit.story_id == article.story_id,
                Hit.created_at >= now - timedelta(hours=settings.story_window_hours),
            )
            # The story's alerted hit first: copies gather under what the reader was told.
            .order_by(case((Hit.not_alerted.in_(STALE), 1), else_=0), Hit.created_at, Hit.id)
            .limit(1)
        ).first()
        # A fresh copy of a story known only from old news or a feed's backlog is the first
        # the reader hears of it: a hit and an alert of its own, not a silent attachment.
        if earlier is not None and not (earlier.not_alerted in STALE and silent is None):
            return _attach_to_story(
                session, earlier, article, watchlist, settings, now, silent=silent
            )

    hit = Hit(
        watchlist_id=watchlist_id,
        article_id=article.id,
        story_id=article.story_id,
        created_at=now,
        matched=list(result.matched),
        fields=list(result.fields),
        explanation={k: list(v) for k, v in result.explanation.items()},
        snippet=result.snippet,
        highlights=[list(span) for span in result.highlights],
        source_count=1,
        # A score the database cannot order (NaN, infinity) would break sorting by score.
        score=result.score if math.isfinite(result.score) else 0.0,
        not_alerted=silent,
    )
    try:
        with session.begin_nested():
            session.add(hit)
    except IntegrityError:
        # The same article recorded by another worker at the same moment is fine; anything
        # else (the watchlist row missing) is a bug the caller must hear about.
        if (
            session.scalar(
                select(Hit.id).where(Hit.watchlist_id == watchlist_id, Hit.article_id == article.id)
            )
            is None
        ):
            raise
        return []
    HITS.labels(watchlist_id).inc()
    if silent is not None:
        return []

    throttled = _throttled(session, hit, watchlist, now)
    ids: list[int] = []
    summarised = False
    for alert in destinations_for(watchlist, settings.default_alerts):
        _ensure_destination(session, alert)
        schedule = alert.schedule
        snoozed = active_snooze(session, watchlist_id, alert.key, now=now)
        if snoozed is not None:
            ids.extend(_attach_snoozed(session, hit, alert, snoozed, now))
        elif schedule is not None:
            ids.extend(_attach_digest(session, hit, alert, schedule, now))
        elif throttled is not None:
            # [] when the hit joined the summary; an instant delivery's id when it came too
            # late for that summary and went out on its own.
            instead = _attach_throttle(session, hit, alert, throttled, now)
            summarised = summarised or not instead
            ids.extend(instead)
        else:
            ids.append(_new_delivery(session, hit, alert, kind=DeliveryKind.INSTANT, now=now))
    if summarised:
        hit.not_alerted = NotAlerted.THROTTLED
        session.flush()
    return ids


def _new_delivery(
    session: Session,
    hit: Hit,
    alert: AlertSpec,
    *,
    kind: DeliveryKind,
    now: datetime,
    key: str | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    dedupe = key or _key(kind if kind != DeliveryKind.INSTANT else "hit", hit.id, alert.key)
    delivery = Delivery(
        dedupe_key=dedupe,
        kind=kind,
        hit_id=hit.id,
        watchlist_id=hit.watchlist_id,
        destination=alert.key,
        channel=alert.channel,
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
        payload=payload or {},
        created_at=now,
    )
    if not _insert_with_hit(session, delivery, hit):
        return int(session.scalar(select(Delivery.id).where(Delivery.dedupe_key == dedupe)) or 0)
    return delivery.id


def _insert_with_hit(session: Session, delivery: Delivery, hit: Hit) -> bool:
    """Insert *delivery* with *hit* attached, in a savepoint. False, with nothing written, when
    a delivery with its dedupe key exists already (another worker, or a redelivered task)."""
    try:
        with session.begin_nested():
            session.add(delivery)
            session.flush()
            session.add(DeliveryHit(delivery_id=delivery.id, hit_id=hit.id))
    except IntegrityError:
        return False
    return True


def _attach_grouped(
    session: Session,
    hit: Hit,
    alert: AlertSpec,
    *,
    kind: DeliveryKind,
    key: str,
    due_at: datetime,
    watchlist_id: str | None,
    payload: dict[str, Any],
    now: datetime,
) -> list[int]:
    """Attach *hit* to the open grouped delivery *key*, creating it if needed. Returns [] or,
    when the group was already opened (its period closed under us), the id of an instant
    delivery sent in its place, so the hit is never dropped."""
    for _ in range(3):
        group_id = session.scalar(select(Delivery.id).where(Delivery.dedupe_key == key))
        if group_id is None:
            group = Delivery(
                dedupe_key=key,
                kind=kind,
                watchlist_id=watchlist_id,
                destination=alert.key,
                channel=alert.channel,
                status=DeliveryStatus.SCHEDULED,
                due_at=due_at,
                next_attempt_at=due_at,
                payload=payload,
                created_at=now,
            )
            if not _insert_with_hit(session, group, hit):
                continue  # created by another worker: attach to theirs
            return []
        # A compare-and-set touch: it only matches while the group is still scheduled, and on
        # PostgreSQL it holds the row until we commit, so open_due_digests cannot open (and
        # render) the group without this hit.
        touched = compare_and_set(
            session,
            Delivery,
            Delivery.id == group_id,
            Delivery.status == DeliveryStatus.SCHEDULED,
            due_at=Delivery.due_at,
        )
        if touched:
            session.add(DeliveryHit(delivery_id=group_id, hit_id=hit.id))
            session.flush()
            return []
        break
    return [_new_delivery(session, hit, alert, kind=DeliveryKind.INSTANT, now=now)]


def digest_period(schedule: DigestSchedule, now: datetime) -> tuple[datetime, datetime]:
    """The [start, end) of the digest period holding *now*, in UTC. ``hourly`` periods are
    clock hours; ``daily HH:MM Zone`` periods run from HH:MM local time to the next one, which
    is computed from the local date so a DST change is handled by the zone database."""
    now = now.astimezone(UTC)
    if schedule.every == "hourly" or schedule.at is None:
        start = now.replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(hours=1)
    zone = ZoneInfo(schedule.tz)
    local = now.astimezone(zone)
    day = local.date()
    start_local = datetime.combine(day, schedule.at, tzinfo=zone)
    if start_local > local:
        day -= timedelta(days=1)
        start_local = datetime.combine(day, schedule.at, tzinfo=zone)
    end_local = datetime.combine(day + timedelta(days=1), schedule.at, tzinfo=zone)
    return start_local.astimezone(UTC), end_local.astimezone(UTC)


def _schedule_label(schedule: DigestSchedule) -> str:
    if schedule.every == "hourly" or schedule.at is None:
        return "hourly"
    return f"daily {schedule.at.strftime('%H:%M')} {schedule.tz}"


def _attach_digest(
    session: Session, hit: Hit, alert: AlertSpec, schedule: DigestSchedule, now: datetime
) -> list[int]:
    # One digest per destination, schedule and period, shared by every watchlist that sends
    # there on that schedule: the reader gets one message, grouped by watchlist.
    start, end = digest_period(schedule, now)
    label = _schedule_label(schedule)
    return _attach_grouped(
        session,
        hit,
        alert,
        kind=DeliveryKind.DIGEST,
        key=_key("digest", alert.key, label, start.isoformat()),
        due_at=end,
        watchlist_id=None,
        payload={
            "schedule": label,
            "tz": schedule.tz,
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
        now=now,
    )


@dataclass(frozen=True, slots=True)
class _Window:
    start: datetime
    end: datetime
    limit: int
    text: str


def _throttled(
    session: Session, hit: Hit, watchlist: WatchlistAlerts | None, now: datetime
) -> _Window | None:
    """The throttle window when this hit is past the watchlist's limit, else None.

    Windows are fixed (clock minutes, hours or UTC days), so a summary has a clear end time.
    Two workers counting at the same instant may both let one hit through: the limit is a
    guard against floods, not an exact quota."""
    if watchlist is None or not watchlist.throttle:
        return None
    window = throttle_window(watchlist.throttle, now)
    start, end = window.start, window.end
    earlier = session.scalar(
        select(func.count(Hit.id)).where(
            Hit.watchlist_id == hit.watchlist_id,
            Hit.created_at >= start,
            Hit.created_at < end,
            Hit.id != hit.id,
            # Hits that were never going to alert (a new feed's backlog) use none of the limit.
            or_(Hit.not_alerted.is_(None), Hit.not_alerted == NotAlerted.THROTTLED),
        )
    )
    if int(earlier or 0) < window.limit:
        return None
    return window


def throttle_window(text: str, now: datetime) -> _Window:
    """The fixed window of the throttle *text* (``10/hour``) that holds *now*."""
    throttle = parse_throttle(text)
    epoch = int(now.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % throttle.period_seconds, UTC)
    end = start + timedelta(seconds=throttle.period_seconds)
    return _Window(start, end, throttle.limit, throttle.text)


def _attach_throttle(
    session: Session, hit: Hit, alert: AlertSpec, window: _Window, now: datetime
) -> list[int]:
    return _attach_grouped(
        session,
        hit,
        alert,
        kind=DeliveryKind.THROTTLE,
        key=_key("throttle", hit.watchlist_id, alert.key, window.start.isoformat()),
        due_at=window.end,
        watchlist_id=hit.watchlist_id,
        payload={
            "throttle": window.text,
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
        },
        now=now,
    )


def _attach_snoozed(
    session: Session, hit: Hit, alert: AlertSpec, snoozed: Snooze, now: datetime
) -> list[int]:
    """Hold what *hit* owes *alert* in the snooze's summary, sent when the snooze ends."""
    key = _key(summary_key_prefix(snoozed.id) + alert.key)
    group_id = session.scalar(select(Delivery.id).where(Delivery.dedupe_key == key))
    if group_id is not None and session.get(DeliveryHit, (group_id, hit.id)) is not None:
        return []  # in the summary already (a thread reply, then an escalation)
    return _attach_grouped(
        session,
        hit,
        alert,
        kind=DeliveryKind.SNOOZE,
        key=key,
        due_at=snoozed.until,
        watchlist_id=hit.watchlist_id,
        payload={
            "snooze_id": snoozed.id,
            "start": snoozed.starts_at.isoformat(),
            "end": snoozed.until.isoformat(),
        },
        now=now,
    )


def _attach_to_story(
    session: Session,
    hit: Hit,
    article: Article,
    watchlist: WatchlistAlerts | None,
    settings: Settings,
    now: datetime,
    *,
    silent: NotAlerted | None,
) -> list[int]:
    """A later copy of a story this watchlist already alerted on: no new hit, no new alert.
    The copy is listed under the first hit, its source count goes up, and when the count
    reaches ``escalate_at`` one follow-up goes to every destination.

    A copy that is itself old news or backlog (*silent*), or a story the reader was never told
    about, is counted and sends nothing."""
    if hit.article_id == article.id:
        return []
    if session.get(HitArticle, (hit.id, article.id)) is not None:
        return []
    try:
        with session.begin_nested():
            session.add(HitArticle(hit_id=hit.id, article_id=article.id, attached_at=now))
    except IntegrityError:
        return []
    # An atomic increment: two workers attaching copies at once must both count.
    update_where(session, Hit, Hit.id == hit.id, source_count=Hit.source_count + 1)
    session.refresh(hit)
    if silent is not None or hit.not_alerted in SILENT:
        return []
    ids: list[int] = []
    alerts = destinations_for(watchlist, settings.default_alerts)
    snoozed = {
        alert.key: found
        for alert in alerts
        if (found := active_snooze(session, hit.watchlist_id, alert.key, now=now)) is not None
    }
    # Where the first alert is already a Slack message, the copy goes in its thread: quiet
    # (thread replies do not notify the channel) and in context.
    for alert in alerts:
        if alert.key in snoozed:
            ids.extend(_attach_snoozed(session, hit, alert, snoozed[alert.key], now))
        elif (
            alert.channel == "slack"
            and alert.schedule is None
            and thread_parent(session, hit.id, alert.key)
        ):
            ids.append(
                _new_delivery(
                    session,
                    hit,
                    alert,
                    kind=DeliveryKind.FOLLOWUP,
                    now=now,
                    key=_key("followup", hit.id, article.id, alert.key),
                    payload={"article_id": article.id},
                )
            )
    escalate_at = watchlist.escalate_at if watchlist is not None else None
    if escalate_at and hit.source_count >= escalate_at:
        first_time = compare_and_set(
            session, Hit, Hit.id == hit.id, Hit.escalated_at.is_(None), escalated_at=now
        )
        if first_time:
            session.refresh(hit)
            for alert in alerts:
                _ensure_destination(session, alert)
                if alert.key in snoozed:
                    ids.extend(_attach_snoozed(session, hit, alert, snoozed[alert.key], now))
                    continue
                ids.append(
                    _new_delivery(
                        session,
                        hit,
                        alert,
                        kind=DeliveryKind.ESCALATION,
                        now=now,
                        payload={"source_count": hit.source_count},
                    )
                )
    return ids


def thread_parent(session: Session, hit_id: int, destination: str) -> Delivery | None:
    """The hit's first alert to *destination*, if it went out as a Slack message: the thread
    that follow-ups and escalations reply in."""
    return session.scalars(
        select(Delivery)
        .where(
            Delivery.hit_id == hit_id,
            Delivery.kind == DeliveryKind.INSTANT,
            Delivery.destination == destination,
            Delivery.channel == "slack",
            Delivery.status == DeliveryStatus.SENT,
            Delivery.provider_message_id.is_not(None),
        )
        .order_by(Delivery.id)
        .limit(1)
    ).first()
