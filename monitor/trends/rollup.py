"""The hourly roll-up: stories and articles per watchlist, and new articles, counted once an
hour is over, so the overview page reads thousands of rows instead of a million hits.

What is counted (the overview page and docs/dashboard.md say the same):

- ``stories`` of a watchlist in an hour: the distinct stories among the hits recorded in it
  (a story is its ``story_id``; an article without one is a story of its own). Later copies
  of a story do not make hits, they attach to the first one, so a story counts once, in the
  hour it first matched.
- ``articles``: the hits recorded in the hour plus the copies attached to them in it.
- ``new_articles`` (no watchlist): the articles first seen in the hour, for feed health.

Closed hours do not change: hits and copies are stamped with the time they are recorded. The
roll-up goes forward from ``rollup_marks.until``, a day at a time, each day in one
transaction with the mark moved by compare-and-set, so two workers never count a day twice.
Whatever is after the mark (the current hour, or more while no worker runs) the overview
counts live with :func:`count_hours`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from monitor.cas import compare_and_set
from monitor.models import Article, Hit, HitArticle, HourCount, RollupMark, utcnow
from monitor.trends.rows import state_row

__all__ = ["HOUR", "MARK", "count_hours", "roll_up", "rolled_until", "start_of_hour"]

MARK = "hours"
HOUR = timedelta(hours=1)
STEP = timedelta(days=1)

Counts = dict[tuple[str, str, datetime], int]


def start_of_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def count_hours(session: Session, start: datetime, end: datetime) -> Counts:
    """Every series' count per hour in [*start*, *end*), read from the hits, copies and
    articles themselves: ``{(series, key, hour): value}``."""
    counts: Counts = defaultdict(int)
    stories: dict[tuple[str, datetime], set[int]] = defaultdict(set)
    # Core execution (no ORM rows to build): the live part of the overview reads up to an
    # hour of hits per request, and a roll-up a day of them.
    hits = session.connection().execute(
        select(Hit.watchlist_id, Hit.created_at, Hit.story_id, Hit.article_id).where(
            Hit.created_at >= start, Hit.created_at < end
        )
    )
    for watchlist_id, created, story_id, article_id in hits:
        hour = start_of_hour(created)
        counts["articles", watchlist_id, hour] += 1
        stories[watchlist_id, hour].add(story_id if story_id is not None else -article_id)
    for (watchlist_id, hour), keys in stories.items():
        counts["stories", watchlist_id, hour] = len(keys)

    copies = session.execute(
        select(Hit.watchlist_id, HitArticle.attached_at)
        .join(Hit, Hit.id == HitArticle.hit_id)
        .where(HitArticle.attached_at >= start, HitArticle.attached_at < end)
    )
    for watchlist_id, attached in copies:
        counts["articles", watchlist_id, start_of_hour(attached)] += 1
    seen = session.execute(
        select(Article.first_seen_at).where(
            Article.first_seen_at >= start, Article.first_seen_at < end
        )
    ).scalars()
    for moment in seen:
        counts["new_articles", "", start_of_hour(moment)] += 1
    # SQLite compares times as text: one written in another form than SQLAlchemy's (no
    # microseconds, by hand) can pass the filter and floor to the hour at *end*, which the
    # next roll-up owns. Only the hours of [start, end) are this call's.
    return {key: value for key, value in counts.items() if start <= key[2] < end}


def rolled_until(session: Session) -> datetime | None:
    """Every hour before this is in ``hour_counts`` (None: nothing rolled up yet)."""
    return session.scalar(select(RollupMark.until).where(RollupMark.name == MARK))


def _first_hour(session: Session) -> datetime | None:
    firsts = [
        session.scalar(select(func.min(Hit.created_at))),
        session.scalar(select(func.min(Article.first_seen_at))),
    ]
    known = [moment for moment in firsts if moment is not None]
    return start_of_hour(min(known)) if known else None


def roll_up(session: Session, *, now: datetime | None = None, max_days: int = 120) -> int:
    """Count the hours that are over and not yet counted (at most *max_days* of them in one
    call), commit each day; returns how many hours were rolled up."""
    now = now or utcnow()
    end = start_of_hour(now)
    mark = rolled_until(session)
    if mark is None:
        first = _first_hour(session)
        if first is None:
            return 0
        state_row(session, RollupMark, MARK, name=MARK, until=first)
        session.commit()
        mark = rolled_until(session)
    assert mark is not None
    hours = 0
    for _ in range(max_days):
        if mark >= end:
            break
        upto = min(mark + STEP, end)
        moved = compare_and_set(
            session, RollupMark, RollupMark.name == MARK, RollupMark.until == mark, until=upto
        )
        if not moved:  # another worker has this day: leave the rest to it
            session.rollback()
            break
        rows = [
            {"series": series, "key": key, "hour": hour, "value": value}
            for (series, key, hour), value in count_hours(session, mark, upto).items()
        ]
        if rows:  # one executemany, not an ORM object per row: a day is ~50 rows a watchlist
            session.execute(insert(HourCount), rows)
        session.commit()
        hours += int((upto - mark) / HOUR)
        mark = upto
    return hours
