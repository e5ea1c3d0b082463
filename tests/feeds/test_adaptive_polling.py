"""Adaptive polling: each feed is polled by its own publishing rate, within the bounds."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.config import Settings
from monitor.feeds import poll_feed
from monitor.feeds.rate import adaptive_interval, observed_rate, smoothed_rate
from monitor.models import Feed
from tests.conftest import make_settings
from tests.feeds.conftest import NOW, add_feed
from tests.support.feedserver import FeedServer

INTERVAL = 900
MIN_INTERVAL = 300
MAX_INTERVAL = 86_400
DAY = 86_400


@pytest.fixture
def poll_settings(tmp_path: Path) -> Settings:
    settings = make_settings(
        tmp_path,
        poll_interval=INTERVAL,
        poll_min_interval=MIN_INTERVAL,
        poll_max_interval=MAX_INTERVAL,
        fetch_connect_timeout=1.0,
        fetch_read_timeout=0.5,
    )
    storage.upgrade(settings)
    return settings


@pytest.fixture
def db(poll_settings: Settings) -> Iterator[Session]:
    with storage.sessionmaker_for(poll_settings)() as session:
        yield session


def dated_rss(count: int, *, every: float, newest_ago: float = 0.0, prefix: str = "i") -> bytes:
    """An RSS document of *count* items, the newest *newest_ago* seconds before NOW and each
    one *every* seconds older than the one before."""
    items = "".join(
        f"<item><guid isPermaLink='false'>{prefix}{n}</guid><title>Item {n}</title>"
        f"<link>https://news.example.org/{prefix}{n}</link>"
        f"<pubDate>{format_datetime(NOW - timedelta(seconds=newest_ago + n * every))}</pubDate>"
        "</item>"
        for n in range(count)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>"
        f"<link>https://news.example.org/</link>{items}</channel></rss>"
    ).encode()


def due_in(db: Session, feed: Feed) -> float:
    feed = db.get_one(Feed, feed.id, populate_existing=True)
    assert feed.next_poll_at is not None
    return (feed.next_poll_at - NOW).total_seconds()


def test_it_estimates_the_rate_from_the_items_timestamps_up_to_now() -> None:
    now = 1_000_000.0
    # 50 items, one every 30 minutes, the newest just now: 48 a day.
    assert observed_rate([now - n * 1800 for n in range(50)], now=now) == pytest.approx(48.0)
    # The same items, but the feed has been quiet for a week since: far fewer a day.
    quiet = observed_rate([now - 7 * DAY - n * 1800 for n in range(50)], now=now)
    assert quiet is not None and quiet < 7
    # A date in the future counts as now, and a batch stamped in one minute is not
    # thousands a day: the span is at least an hour.
    assert observed_rate([now + 10 * DAY, now], now=now) == pytest.approx(24.0)
    assert observed_rate([now, now], now=now) == pytest.approx(24.0)
    assert observed_rate([now], now=now) is None
    assert observed_rate([], now=now) is None


@pytest.mark.parametrize(
    ("previous", "observed", "expected"),
    [
        (None, 48.0, 48.0),
        (48.0, None, 48.0),
        (None, None, None),
        (10.0, 10.0, 10.0),
        (10.0, 1000.0, 10.0 * 100**0.3),
        (48.0, 0.0, 48.0),
    ],
    ids=["new-feed-takes-the-estimate", "no-estimate", "nothing", "steady", "jump", "zero"],
)
def test_it_smooths_the_rate_from_poll_to_poll(
    previous: float | None, observed: float | None, expected: float | None
) -> None:
    assert smoothed_rate(previous, observed) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("items_per_day", "expected"),
    [(96.0, 900.0), (864.0, 300.0), (1.0, math.sqrt(900 * DAY)), (None, 900.0), (0.0, 900.0)],
    ids=["every-15-min", "every-100-s", "daily", "unknown", "silent"],
)
def test_the_interval_is_the_geometric_mean_of_the_setting_and_the_gap(
    items_per_day: float | None, expected: float
) -> None:
    assert adaptive_interval(items_per_day, poll_interval=900) == pytest.approx(expected)


def test_it_polls_a_new_busy_feed_often_from_its_first_poll(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    # Miniflux #2166: fifty items of the last few hours counted as fifty a week put a busy
    # new feed three hours out. Read from the items' own dates, it is every 5 minutes.
    server.set("/rss", dated_rss(50, every=300))
    feed = add_feed(db, server.url("/rss"))

    outcome = poll_feed(db, feed.id, settings=poll_settings, now=NOW)

    assert outcome.outcome == "new" and len(outcome.new_article_ids) == 50
    stored = db.get_one(Feed, feed.id, populate_existing=True)
    assert stored.items_per_day == pytest.approx(288.0, rel=0.01)
    assert due_in(db, feed) == pytest.approx(math.sqrt(INTERVAL * 300), rel=0.01)  # 520 s


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (dated_rss(10, every=7 * DAY), math.sqrt(INTERVAL * 7 * DAY)),
        (dated_rss(50, every=1), MIN_INTERVAL),
        (dated_rss(3, every=DAY, newest_ago=365 * DAY), MAX_INTERVAL),
        (dated_rss(1, every=DAY), INTERVAL),
    ],
    ids=["weekly", "bounded-below", "bounded-above", "too-few-dates-keep-the-setting"],
)
def test_it_polls_each_feed_by_its_own_rate_within_the_bounds(
    server: FeedServer, db: Session, poll_settings: Settings, document: bytes, expected: float
) -> None:
    server.set("/rss", document)
    feed = add_feed(db, server.url("/rss"))
    poll_feed(db, feed.id, settings=poll_settings, now=NOW)
    assert due_in(db, feed) == pytest.approx(expected, rel=0.01)


def test_the_interval_in_feeds_yaml_overrides_the_rate(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    server.set("/rss", dated_rss(50, every=300))
    feed = add_feed(db, server.url("/rss"), interval_seconds=3600)
    poll_feed(db, feed.id, settings=poll_settings, now=NOW)
    assert due_in(db, feed) == 3600


def test_it_moves_the_stored_rate_part_way_to_a_new_estimate(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    server.set("/rss", dated_rss(50, every=300))
    feed = add_feed(db, server.url("/rss"))
    poll_feed(db, feed.id, settings=poll_settings, now=NOW)
    # The feed slows to one item an hour: the next poll moves the rate 30% of the way (in
    # ratio), not all of it, so one odd document does not swing the schedule.
    server.set("/rss", dated_rss(50, every=3600, prefix="slow"))
    later = NOW + timedelta(hours=1)
    poll_feed(db, feed.id, settings=poll_settings, now=later)
    stored = db.get_one(Feed, feed.id, populate_existing=True)
    observed = 49 / (49 * 3600 + 3600) * DAY
    assert stored.items_per_day == pytest.approx(288.0**0.7 * observed**0.3, rel=0.01)
    assert 24 < stored.items_per_day < 288


def test_it_keeps_the_fixed_interval_when_adaptive_polling_is_off(
    server: FeedServer, db: Session, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, poll_interval=INTERVAL, poll_adaptive=False)
    server.set("/rss", dated_rss(50, every=300))
    feed = add_feed(db, server.url("/rss"))
    poll_feed(db, feed.id, settings=settings, now=NOW)
    assert due_in(db, feed) == INTERVAL
