"""Recording a whole batch's hits and the deliveries they owe in a fixed number of
statements, in the matching transaction.

:func:`record_batch` makes the same rows :func:`monitor.alerts.record.record_hits` would,
article after article. A new hit (its story has no hit of this watchlist yet) costs no
statement of its own: one read of the hits the batch's articles already have, one of the hits
already made for their stories, one count of each throttled watchlist's window, then one
INSERT of the hits, one of the destinations, one of the instant deliveries and one of their
links, however many articles the batch holds. Hits that go into a digest or a throttle
summary are counted against the throttle in order, as one by one, and attached group by
group: the first hit of each group through ``record_hits``' own compare-and-set, the rest
with one INSERT of links for every group. The cost grows with the groups (watchlists times
destinations), not the articles.

A later copy of a story the watchlist already has a hit for still goes through
``record_hits``' own path one at a time, after the batch's new hits are written, so it sees
them: it is attached to that hit, may owe a thread reply or an escalation, and its outcome
depends on the hit before it.

Every row keeps its unique key (``uq_hits_watchlist_article``, ``deliveries.dedupe_key``),
written with ``ON CONFLICT DO NOTHING``, so recording the same article twice adds nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, func, or_, select
from sqlalchemy.orm import Session

from monitor.alerts.record import (
    _attach_grouped,
    _key,
    _new_delivery,
    _record_one,
    _schedule_label,
    _Window,
    digest_period,
    throttle_window,
)
from monitor.alerts.silence import silent_reason
from monitor.bulk import insert_rows
from monitor.cas import update_where
from monitor.config import Settings
from monitor.db import open_transaction
from monitor.destinations import AlertSpec, WatchlistAlerts, destinations_for
from monitor.matching import MatchResult
from monitor.metrics import HITS
from monitor.models import Article, Delivery, DeliveryHit, Destination, Hit, Snooze, StoryMute
from monitor.states import DeliveryKind, DeliveryStatus, NotAlerted

__all__ = ["record_batch"]

_HITS = cast(Table, Hit.__table__)
_DELIVERIES = cast(Table, Delivery.__table__)
_LINKS = cast(Table, DeliveryHit.__table__)
_DESTINATIONS = cast(Table, Destination.__table__)


@dataclass(frozen=True, slots=True)
class _Pending:
    article: Article
    result: MatchResult
    watchlist: WatchlistAlerts | None
    silent: NotAlerted | None
    alerts: tuple[AlertSpec, ...]


def record_batch(
    session: Session,
    matched: Sequence[tuple[Article, Sequence[MatchResult]]],
    *,
    watchlists: Mapping[str, WatchlistAlerts],
    settings: Settings,
    now: datetime,
) -> list[int]:
    """Store a hit per result and its deliveries for every article of the batch, in the
    caller's transaction (no commit); return the ids of the deliveries to send now (those of
    the batched hits first). Recording the same articles again adds nothing."""
    items = [(article, results) for article, results in matched if results]
    if not items:
        return []
    open_transaction(session)
    article_ids = [article.id for article, _ in items]
    done = {
        (watchlist_id, article_id)
        for watchlist_id, article_id in session.execute(
            select(Hit.watchlist_id, Hit.article_id).where(Hit.article_id.in_(article_ids))
        )
    }
    story_ids = sorted({a.story_id for a, _ in items if a.story_id is not None})
    watchlist_ids = sorted({r.watchlist_id for _, results in items for r in results})
    told: set[tuple[str, int | None]] = set()
    if story_ids:
        told = {
            (watchlist_id, story_id)
            for watchlist_id, story_id in session.execute(
                select(Hit.watchlist_id, Hit.story_id)
                .where(
                    Hit.story_id.in_(story_ids),
                    Hit.watchlist_id.in_(watchlist_ids),
                    Hit.created_at >= now - timedelta(hours=settings.story_window_hours),
                )
                .distinct()
            )
        }

    # What people did (monitor.triage): a muted story owes nothing, and a snoozed watchlist's
    # alerts go into the snooze's summary. Both are rare, so their hits take record_hits' own
    # path, which knows those rules; finding them costs two statements per batch.
    muted = _muted_stories(session, watchlist_ids, story_ids)
    snoozed = _snoozed_watchlists(session, watchlist_ids, now)

    fast: list[_Pending] = []
    slow: list[_Pending] = []
    for article, results in items:
        silent = silent_reason(article, settings=settings, now=now)
        for result in results:
            if (result.watchlist_id, article.id) in done:
                continue
            watchlist = watchlists.get(result.watchlist_id)
            alerts = tuple(destinations_for(watchlist, settings.default_alerts))
            item = _Pending(article, result, watchlist, silent, alerts)
            story = (result.watchlist_id, article.story_id)
            copy = article.story_id is not None and story in told
            triaged = story in muted or result.watchlist_id in snoozed
            (slow if copy or triaged else fast).append(item)
            if article.story_id is not None:
                told.add(story)

    delivery_ids = _record_fast(session, fast, now=now)
    for item in slow:
        delivery_ids.extend(
            _record_one(
                session,
                item.article,
                item.result,
                item.watchlist,
                settings,
                now,
                silent=item.silent,
            )
        )
    return delivery_ids


def _muted_stories(
    session: Session, watchlist_ids: Sequence[str], story_ids: Sequence[int]
) -> set[tuple[str, int | None]]:
    """(watchlist, story) pairs under a mute in force, among the batch's."""
    if not story_ids:
        return set()
    return {
        (watchlist_id, story_id)
        for watchlist_id, story_id in session.execute(
            select(StoryMute.watchlist_id, StoryMute.story_id).where(
                StoryMute.watchlist_id.in_(watchlist_ids),
                StoryMute.story_id.in_(story_ids),
                StoryMute.lifted_at.is_(None),
            )
        )
    }


def _snoozed_watchlists(session: Session, watchlist_ids: Sequence[str], now: datetime) -> set[str]:
    """The batch's watchlists with a snooze in force at any destination."""
    return set(
        session.scalars(
            select(Snooze.watchlist_id)
            .where(
                Snooze.watchlist_id.in_(watchlist_ids),
                Snooze.ended_at.is_(None),
                Snooze.starts_at <= now,
                Snooze.until > now,
            )
            .distinct()
        )
    )


def _record_fast(session: Session, items: list[_Pending], *, now: datetime) -> list[int]:
    if not items:
        return []
    throttled = _throttle(session, items, now)
    rows = [_hit_row(item, now, summarised=window is not None) for item, window in throttled]
    inserted = insert_rows(
        session,
        _HITS,
        rows,
        conflict=["watchlist_id", "article_id"],
        returning=["id", "watchlist_id", "article_id"],
    )
    # A hit missing here was stored by another worker at the same moment: it owes nothing more.
    hit_ids = {(watchlist_id, article_id): hit_id for hit_id, watchlist_id, article_id in inserted}
    owed: list[tuple[int, AlertSpec]] = []
    groups: dict[str, _Group] = {}
    for item, window in throttled:
        hit_id = hit_ids.get((item.result.watchlist_id, item.article.id))
        if hit_id is None:
            continue
        HITS.labels(item.result.watchlist_id).inc()
        if item.silent is not None:
            continue
        for alert in item.alerts:
            group = _group_of(item, alert, window, now)
            if group is None:
                owed.append((hit_id, alert))
            else:
                groups.setdefault(group.key, group).hits.append(hit_id)
    alerts = {alert.key: alert.channel for item in items for alert in item.alerts}
    if not owed and not groups:
        return []

    insert_rows(
        session,
        _DESTINATIONS,
        [{"key": key, "channel": channel} for key, channel in sorted(alerts.items())],
        conflict=["key"],
    )
    delivery_ids = _attach_groups(session, groups, now=now) if groups else []
    watchlist_of = {hit_id: watchlist_id for (watchlist_id, _), hit_id in hit_ids.items()}
    return _instant(session, owed, watchlist_of, now=now) + delivery_ids


@dataclass(slots=True)
class _Group:
    """A digest or throttle summary the batch's hits go into, and those hits in order."""

    key: str
    kind: DeliveryKind
    alert: AlertSpec
    due_at: datetime
    watchlist_id: str | None
    payload: dict[str, Any]
    hits: list[int] = field(default_factory=list)


def _group_of(
    item: _Pending, alert: AlertSpec, window: _Window | None, now: datetime
) -> _Group | None:
    """The digest or throttle summary *alert* gathers this hit into, or None to send it now
    (the choices of ``record_hits``: a digest schedule first, then the throttle)."""
    if alert.schedule is not None:
        start, end = digest_period(alert.schedule, now)
        label = _schedule_label(alert.schedule)
        payload = {
            "schedule": label,
            "tz": alert.schedule.tz,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
        key = _key("digest", alert.key, label, start.isoformat())
        return _Group(key, DeliveryKind.DIGEST, alert, end, None, payload)
    if window is not None:
        watchlist_id = item.result.watchlist_id
        payload = {
            "throttle": window.text,
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
        }
        key = _key("throttle", watchlist_id, alert.key, window.start.isoformat())
        return _Group(key, DeliveryKind.THROTTLE, alert, window.end, watchlist_id, payload)
    return None


def _throttle(
    session: Session, items: list[_Pending], now: datetime
) -> list[tuple[_Pending, _Window | None]]:
    """Each item with the throttle window it is past (None: within its watchlist's limit, or
    no throttle), counting the window's stored hits (one statement for every watchlist) and
    then the batch's own, in order, as one by one."""
    windows: dict[str, _Window] = {}
    for item in items:
        watchlist = item.watchlist
        throttle = watchlist.throttle if watchlist is not None else None
        if item.silent is None and throttle and item.result.watchlist_id not in windows:
            windows[item.result.watchlist_id] = throttle_window(throttle, now)
    used: dict[str, int] = {}
    if windows:
        in_window = [
            and_(Hit.watchlist_id == wid, Hit.created_at >= w.start, Hit.created_at < w.end)
            for wid, w in windows.items()
        ]
        counted = session.execute(
            select(Hit.watchlist_id, func.count(Hit.id))
            .where(
                or_(*in_window),
                # Hits that were never going to alert (a new feed's backlog) use none of it.
                or_(Hit.not_alerted.is_(None), Hit.not_alerted == NotAlerted.THROTTLED),
            )
            .group_by(Hit.watchlist_id)
        )
        used = {watchlist_id: int(count) for watchlist_id, count in counted}
    decided: list[tuple[_Pending, _Window | None]] = []
    for item in items:
        window = windows.get(item.result.watchlist_id) if item.silent is None else None
        if window is not None:
            earlier = used.get(item.result.watchlist_id, 0)
            used[item.result.watchlist_id] = earlier + 1
            if earlier < window.limit:
                window = None
        decided.append((item, window))
    return decided


def _attach_groups(session: Session, groups: dict[str, _Group], *, now: datetime) -> list[int]:
    """Attach each group's hits: the first through ``record_hits``' own compare-and-set
    (create the group, or touch it while it is still scheduled, which on PostgreSQL holds it
    until the commit), the rest with one INSERT of links for every group. Statements per
    group, not per hit. A group opened meanwhile sends its hits one by one instead, as
    ``record_hits`` does, and a throttled hit that went out that way is not 'throttled'."""
    firsts = sorted({group.hits[0] for group in groups.values()})
    loaded = {hit.id: hit for hit in session.scalars(select(Hit).where(Hit.id.in_(firsts)))}
    delivery_ids: list[int] = []
    joined: list[_Group] = []
    alone: set[int] = set()
    for group in groups.values():
        instead = _attach_grouped(
            session,
            loaded[group.hits[0]],
            group.alert,
            kind=group.kind,
            key=group.key,
            due_at=group.due_at,
            watchlist_id=group.watchlist_id,
            payload=group.payload,
            now=now,
        )
        if not instead:
            joined.append(group)
            continue
        # The period closed under us: every hit of the group goes out on its own.
        delivery_ids.extend(instead)
        rest = session.scalars(select(Hit).where(Hit.id.in_(group.hits[1:]))).all()
        for hit in rest:
            delivery_ids.append(
                _new_delivery(session, hit, group.alert, kind=DeliveryKind.INSTANT, now=now)
            )
        if group.kind == DeliveryKind.THROTTLE:
            alone.update(group.hits)
    links = [group for group in joined if len(group.hits) > 1]
    if links:
        keys = [group.key for group in links]
        found = session.execute(
            select(Delivery.dedupe_key, Delivery.id).where(Delivery.dedupe_key.in_(keys))
        )
        group_ids = {key: delivery_id for key, delivery_id in found}
        insert_rows(
            session,
            _LINKS,
            [
                {"delivery_id": group_ids[group.key], "hit_id": hit_id}
                for group in links
                for hit_id in group.hits[1:]
            ],
            conflict=[],
        )
    if alone:
        # Summarised nowhere after all, unless another of its destinations' summaries took it.
        summarised = {h for g in joined if g.kind == DeliveryKind.THROTTLE for h in g.hits}
        if alone - summarised:
            update_where(session, Hit, Hit.id.in_(sorted(alone - summarised)), not_alerted=None)
    return delivery_ids


def _instant(
    session: Session,
    owed: list[tuple[int, AlertSpec]],
    watchlist_of: dict[int, str],
    *,
    now: datetime,
) -> list[int]:
    """One instant delivery per (hit, destination), and its link to the hit."""
    if not owed:
        return []
    deliveries = [
        {
            "dedupe_key": _key("hit", hit_id, alert.key),
            "kind": DeliveryKind.INSTANT,
            "hit_id": hit_id,
            "watchlist_id": watchlist_of[hit_id],
            "destination": alert.key,
            "channel": alert.channel,
            "status": DeliveryStatus.PENDING,
            "next_attempt_at": now,
            "payload": {},
            "created_at": now,
        }
        for hit_id, alert in owed
    ]
    # The hits are new, so their dedupe keys are too: nothing conflicts here unless a hit id
    # came back from the dead, and then the existing delivery is the one owed.
    inserted = insert_rows(
        session,
        _DELIVERIES,
        deliveries,
        conflict=["dedupe_key"],
        returning=["id", "dedupe_key"],
    )
    ids = {key: delivery_id for delivery_id, key in inserted}
    fresh = [row for row in deliveries if row["dedupe_key"] in ids]
    insert_rows(
        session,
        _LINKS,
        [{"delivery_id": ids[row["dedupe_key"]], "hit_id": row["hit_id"]} for row in fresh],
        conflict=[],
    )
    missing = [row["dedupe_key"] for row in deliveries if row["dedupe_key"] not in ids]
    if missing:
        found = session.execute(
            select(Delivery.dedupe_key, Delivery.id).where(Delivery.dedupe_key.in_(missing))
        )
        ids.update({key: delivery_id for key, delivery_id in found})
    return [int(ids[row["dedupe_key"]]) for row in deliveries if row["dedupe_key"] in ids]


def _hit_row(item: _Pending, now: datetime, *, summarised: bool) -> dict[str, Any]:
    result = item.result
    return {
        "watchlist_id": result.watchlist_id,
        "article_id": item.article.id,
        "story_id": item.article.story_id,
        "created_at": now,
        "matched": list(result.matched),
        "fields": list(result.fields),
        "explanation": {k: list(v) for k, v in result.explanation.items()},
        "snippet": result.snippet,
        "highlights": [list(span) for span in result.highlights],
        "source_count": 1,
        # A score the database cannot order (NaN, infinity) would break sorting by score.
        "score": result.score if math.isfinite(result.score) else 0.0,
        # Past the throttle, a hit goes into the window's summary instead of an alert of its
        # own (unless its only destinations are digests, which a throttle does not change).
        "not_alerted": item.silent
        or (
            NotAlerted.THROTTLED
            if summarised and any(alert.schedule is None for alert in item.alerts)
            else None
        ),
    }
