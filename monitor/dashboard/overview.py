"""The overview page's figures: stories and articles per watchlist over time, polls by
outcome, new articles per day, and deliveries by status, for one range.

Hits are read from the hourly roll-up (``monitor.trends.rollup``) up to its mark and counted
live after it, so the page costs the same at a million hits as at a thousand. Ranges are
24h and 7d in hour buckets, 30d and 90d in day buckets (``bucket=day`` turns the short ranges
into days; hours over 30 or 90 days would be thousands of bars).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Integer, bindparam, cast, func, select
from sqlalchemy.orm import Session

from monitor.alerts.links import hits_list_link
from monitor.dashboard.charts import BucketLinks, Series, bar_chart
from monitor.models import Delivery, HourCount, PollCount, UTCDateTime, Watchlist, utcnow
from monitor.trends.rollup import HOUR, count_hours, rolled_until, start_of_hour

__all__ = ["BUCKETS", "RANGES", "Overview", "WatchlistSeries", "charts", "overview"]

RANGES = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
BUCKETS = ("hour", "day")
DAY = timedelta(days=1)
# The longest range drawn in hours: past it, hour bars get too thin to read or click.
MAX_HOURLY = timedelta(days=7)


@dataclass
class WatchlistSeries:
    """One watchlist's stories and articles per bucket."""

    id: str
    name: str
    stories: list[int]
    articles: list[int]


@dataclass
class Overview:
    range: str
    bucket: str
    buckets: list[datetime]
    watchlists: list[WatchlistSeries]
    polls: dict[str, list[int]]
    new_articles_days: list[datetime]
    new_articles: list[int]
    deliveries: dict[str, int] = field(default_factory=dict)

    def link(self, row: WatchlistSeries, index: int) -> str | None:
        """The hits list of *row*'s bucket *index* (relative: './?...' from /overview is the
        list, behind any path prefix), or None for a bucket without hits: what a click on
        the bucket opens. Made on demand, not for every bucket of every watchlist: the page
        has ``static/charts.js`` write the same link from the chart's prefix."""
        if not row.articles[index]:
            return None
        start = self.buckets[index]
        step = HOUR if self.bucket == "hour" else DAY
        return hits_list_link(".", watchlist_id=row.id, period=(start, start + step))


def _slot_of(session: Session, since: datetime, step: timedelta) -> ColumnElement[int]:
    """Which bucket an ``hour_counts`` row falls in (0 for the one starting at *since*),
    worked out by the database: whole numbers are all that cross to Python, so thousands of
    rows cost no datetime parsing."""
    hours = int(step / HOUR)
    start = bindparam("since", since, type_=UTCDateTime)
    if session.get_bind().dialect.name == "sqlite":
        elapsed = func.round((func.julianday(HourCount.hour) - func.julianday(start)) * 24)
        return cast(cast(elapsed, Integer) / hours, Integer)
    seconds = func.extract("epoch", HourCount.hour - start)
    return cast(func.floor(seconds / (3600 * hours)), Integer)


def _floor(moment: datetime, bucket: str) -> datetime:
    hour = start_of_hour(moment)
    return hour.replace(hour=0) if bucket == "day" else hour


def _slices(since: datetime, now: datetime, step: timedelta) -> list[datetime]:
    out, moment = [], since
    while moment <= now:
        out.append(moment)
        moment += step
    return out


def overview(
    session: Session, *, range_: str = "7d", bucket: str | None = None, now: datetime | None = None
) -> Overview:
    """The figures for *range_* (a key of :data:`RANGES`) in *bucket* (``hour`` or ``day``;
    by default hours up to 7 days, days beyond)."""
    now = now or utcnow()
    span = RANGES[range_]
    if bucket not in BUCKETS or (bucket == "hour" and span > MAX_HOURLY):
        bucket = "hour" if span <= MAX_HOURLY else "day"
    step = HOUR if bucket == "hour" else DAY
    since = _floor(now - span + step, bucket)
    buckets = _slices(since, now, step)
    index = {moment: i for i, moment in enumerate(buckets)}

    # Hours up to the roll-up's mark from hour_counts, summed into buckets by the database
    # (7 days of 20 watchlists is ~7,000 rows; 90 days ~2,000 once summed by day), and the
    # rest counted live.
    mark = rolled_until(session) or since
    mark = min(max(mark, since), now)
    counts: dict[tuple[str, str, datetime], int] = defaultdict(int)
    slot = _slot_of(session, since, step)
    # Core, not ORM, execution: thousands of plain rows, no entities to build.
    stored = (
        session.connection()
        .execute(
            select(HourCount.series, HourCount.key, slot, func.sum(HourCount.value))
            .where(HourCount.hour >= since, HourCount.hour < mark)
            .group_by(HourCount.series, HourCount.key, slot)
        )
        .all()
    )
    for series, key, number, value in stored:
        if 0 <= number < len(buckets):
            counts[series, key, buckets[number]] += int(value)
    for (series, key, hour), value in count_hours(
        session, mark, now + timedelta(seconds=1)
    ).items():
        counts[series, key, _floor(hour, bucket)] += value

    names = {wid: name for wid, name in session.execute(select(Watchlist.id, Watchlist.name))}
    per: dict[str, WatchlistSeries] = {}
    for (series, key, moment), value in counts.items():
        if series not in ("stories", "articles") or moment not in index:
            continue
        row = per.get(key)
        if row is None:
            row = per[key] = WatchlistSeries(
                key, names.get(key) or key, [0] * len(buckets), [0] * len(buckets)
            )
        getattr(row, series)[index[moment]] += value
    watchlists = sorted(per.values(), key=lambda r: (-sum(r.stories), r.name.lower()))

    days = _slices(_floor(now - span + DAY, "day"), now, DAY)
    day_index = {moment: i for i, moment in enumerate(days)}
    new_articles = [0] * len(days)
    for (series, _, moment), value in counts.items():
        if series == "new_articles":
            day = day_index.get(moment.replace(hour=0))
            if day is not None:
                new_articles[day] += value

    polls: dict[str, list[int]] = {}
    rows = session.execute(
        select(PollCount.hour, PollCount.outcome, PollCount.count).where(PollCount.hour >= since)
    )
    for hour, outcome, count in rows:
        where = index.get(_floor(hour, bucket))
        if where is not None:
            polls.setdefault(outcome, [0] * len(buckets))[where] += count

    deliveries = {
        status: int(count)
        for status, count in session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.created_at >= since)
            .group_by(Delivery.status)
            .order_by(Delivery.status)
        )
    }
    return Overview(range_, bucket, buckets, watchlists, polls, days, new_articles, deliveries)


# -- the charts of an overview ---------------------------------------------------------------

OUTCOME_CSS = {"new": "c-new", "unchanged": "c-unchanged", "error": "c-error"}


def _labels(moments: list[datetime], bucket: str) -> list[str]:
    form = "%m-%d %H:00" if bucket == "hour" else "%m-%d"
    return [moment.strftime(form) for moment in moments]


def charts(data: Overview) -> dict[str, Any]:
    """The SVG charts of *data*, ready for the template."""
    labels = _labels(data.buckets, data.bucket)
    unit = "hour" if data.bucket == "hour" else "day"
    step = HOUR if data.bucket == "hour" else DAY
    start = data.buckets[0]
    # The hits list of a watchlist's bucket: this prefix, then the bucket's bounds as
    # hits_list_link writes them (Overview.link; the browser test holds the two equal).
    per_watchlist = [
        {
            "id": row.id,
            "name": row.name,
            "stories": sum(row.stories),
            "articles": sum(row.articles),
            "svg": bar_chart(
                labels,
                [
                    Series("stories", "c-stories", row.stories),
                    Series("articles", "c-articles", row.articles),
                ],
                title=f"{row.name}: stories and articles per {unit}",
                link=BucketLinks(
                    "./?" + urlencode({"watchlist": row.id, "range": "custom"}), start, step
                ),
                css="watchlist-chart",
            ),
        }
        for row in data.watchlists
    ]
    polls = bar_chart(
        labels,
        [
            Series(outcome, OUTCOME_CSS.get(outcome, "c-other"), values)
            for outcome, values in sorted(data.polls.items())
        ],
        title=f"Polls per {unit} by outcome",
        stacked=True,
        css="polls-chart",
    )
    articles = bar_chart(
        _labels(data.new_articles_days, "day"),
        [Series("new articles", "c-articles", data.new_articles)],
        title="New articles per day",
        css="articles-chart",
    )
    statuses = list(data.deliveries)
    deliveries = bar_chart(
        statuses,
        [
            Series(
                f"{status}",
                f"c-{status}",
                [data.deliveries[s] if s == status else 0 for s in statuses],
            )
            for status in statuses
        ],
        title="Deliveries by status",
        stacked=True,
        css="deliveries-chart",
    )
    return {
        "watchlists": per_watchlist,
        "polls": polls,
        "articles": articles,
        "deliveries": deliveries,
    }
