"""Pipeline stages that only need the schema: the sweep, queue lag, pruning."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor import pipeline
from monitor.config import Settings
from monitor.models import (
    Article,
    ArticleFeed,
    Delivery,
    Destination,
    Feed,
    Hit,
    Story,
    StoryKey,
    Watchlist,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _article(session: Session, n: int, *, age: timedelta, matched: bool = False) -> Article:
    article = Article(
        identity=hashlib.sha256(str(n).encode()).hexdigest(),
        url=f"https://news.example.org/{n}",
        title=f"Article {n}",
        first_seen_at=NOW - age,
        matched_at=NOW - age if matched else None,
    )
    session.add(article)
    session.flush()
    return article


def test_it_sweeps_only_unmatched_articles_past_the_grace(session: Session) -> None:
    old = _article(session, 1, age=timedelta(minutes=5))
    _article(session, 2, age=timedelta(seconds=5))
    _article(session, 3, age=timedelta(minutes=5), matched=True)
    session.commit()
    assert pipeline.pending_article_ids(session, older_than=NOW - timedelta(minutes=1)) == [old.id]


def test_it_limits_a_sweep(session: Session) -> None:
    for n in range(5):
        _article(session, n, age=timedelta(hours=1))
    session.commit()
    assert len(pipeline.pending_article_ids(session, older_than=NOW, limit=3)) == 3


def test_it_splits_ids_into_batches() -> None:
    assert pipeline.batches(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert pipeline.batches([], 2) == []


def test_it_measures_queue_lag_per_kind(session: Session) -> None:
    session.add(Feed(url="https://a.example.org/rss", next_poll_at=NOW - timedelta(seconds=40)))
    session.add(Feed(url="https://b.example.org/rss", next_poll_at=NOW + timedelta(hours=1)))
    _article(session, 1, age=timedelta(seconds=90))
    session.add(Destination(key="console", channel="console"))
    session.flush()
    session.add(
        Delivery(
            dedupe_key="d1",
            destination="console",
            channel="console",
            status="pending",
            next_attempt_at=NOW - timedelta(seconds=7),
        )
    )
    session.commit()
    lag = pipeline.queue_lag(session, now=NOW)
    assert lag == {"feeds": 40.0, "articles": 90.0, "deliveries": 7.0}


def test_it_reports_no_lag_when_nothing_waits(session: Session) -> None:
    assert pipeline.queue_lag(session, now=NOW) == {
        "feeds": 0.0,
        "articles": 0.0,
        "deliveries": 0.0,
    }


def test_it_prunes_old_articles_without_hits_only(session: Session, settings: Settings) -> None:
    feed = Feed(url="https://a.example.org/rss")
    session.add(feed)
    session.add(Watchlist(id="energy", name="Energy"))
    session.flush()
    old_quiet = _article(session, 1, age=timedelta(days=31), matched=True)
    old_hit = _article(session, 2, age=timedelta(days=31), matched=True)
    recent = _article(session, 3, age=timedelta(days=29), matched=True)
    session.add(ArticleFeed(article_id=old_quiet.id, feed_id=feed.id))
    session.add(Hit(watchlist_id="energy", article_id=old_hit.id))
    session.commit()

    assert pipeline.prune(session, settings=settings, now=NOW) == 1
    left = set(session.execute(select(Article.id)).scalars())
    assert left == {old_hit.id, recent.id}
    assert session.execute(select(func.count()).select_from(ArticleFeed)).scalar_one() == 0


def test_it_prunes_stories_left_empty_and_their_claims(
    session: Session, settings: Settings
) -> None:
    session.add(Watchlist(id="energy", name="Energy"))
    old = timedelta(days=31)

    def story(n: int, age: timedelta) -> Story:
        made = Story(title=f"Story {n}", first_seen_at=NOW - age)
        session.add(made)
        session.flush()
        session.add(StoryKey(band=0, key=n, story_id=made.id, first_seen_at=NOW - age))
        return made

    emptied = story(1, old)  # its only article is pruned below
    with_hit = story(2, old)
    recent = story(3, timedelta(hours=1))  # empty, but still inside the story window
    gone = _article(session, 1, age=old, matched=True)
    gone.story_id = emptied.id
    kept = _article(session, 2, age=old, matched=True)
    kept.story_id = with_hit.id
    session.add(Hit(watchlist_id="energy", article_id=kept.id, story_id=with_hit.id))
    session.commit()

    assert pipeline.prune(session, settings=settings, now=NOW) == 1
    assert set(session.execute(select(Story.id)).scalars()) == {with_hit.id, recent.id}
    assert set(session.execute(select(StoryKey.story_id)).scalars()) == {with_hit.id, recent.id}


def test_it_summarises_a_cycle_in_plain_lines() -> None:
    summary = pipeline.CycleSummary(feeds_due=2, feeds_polled=2, new_articles=5, hits=1)
    text = str(summary)
    assert "2 of 2 due polled" in text
    assert "5 new" in text
    assert "hits:       1" in text


def test_it_resends_only_deliveries_whose_message_is_presumed_lost(session: Session) -> None:
    session.add(Destination(key="console", channel="console"))
    session.flush()
    rows = {
        "fresh-pending": ("pending", timedelta(seconds=10), None),
        "old-pending": ("pending", timedelta(minutes=5), None),
        "fresh-retrying": ("retrying", timedelta(seconds=1), "timeout"),
        # Failed, then queued again by a person: no message was ever sent for the retry.
        "retry-requested": ("pending", timedelta(seconds=1), "channel_not_found"),
    }
    ids = {}
    for key, (status, age, error) in rows.items():
        delivery = Delivery(
            dedupe_key=key,
            destination="console",
            channel="console",
            status=status,
            next_attempt_at=NOW - age,
            last_error=error,
        )
        session.add(delivery)
        session.flush()
        ids[key] = delivery.id
    session.commit()

    resend = pipeline.deliveries_to_resend(
        session, list(ids.values()), now=NOW, grace=timedelta(minutes=1)
    )

    assert resend == sorted([ids["old-pending"], ids["fresh-retrying"], ids["retry-requested"]])
    assert pipeline.deliveries_to_resend(session, [], now=NOW, grace=timedelta(0)) == []
