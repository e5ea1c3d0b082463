"""The schema works the same on SQLite and PostgreSQL (each test runs on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.config import Settings
from monitor.models import Article, ArticleFeed, Base, Delivery, Destination, Feed, Hit, Watchlist


def _article(identity: str = "a" * 64, **kw: object) -> Article:
    return Article(identity=identity, url="https://example.org/a", title="Title", **kw)


def test_it_migrates_to_exactly_the_models(settings: Settings) -> None:
    with storage.get_engine(settings).connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert storage.current_revision(settings) is not None


def test_it_stores_one_article_linked_to_two_feeds(session: Session) -> None:
    one, two = Feed(url="https://a.example/rss"), Feed(url="https://b.example/rss")
    article = _article()
    session.add_all([one, two, article])
    session.flush()
    session.add_all(
        [
            ArticleFeed(article_id=article.id, feed_id=one.id),
            ArticleFeed(article_id=article.id, feed_id=two.id),
        ]
    )
    session.commit()
    stored = session.scalars(select(Article)).all()
    assert len(stored) == 1
    assert {link.feed_id for link in stored[0].feeds} == {one.id, two.id}


def test_it_refuses_a_second_article_with_the_same_identity(session: Session) -> None:
    session.add(_article())
    session.commit()
    session.add(_article())
    with pytest.raises(IntegrityError):
        session.commit()


def test_it_refuses_a_second_hit_for_the_same_watchlist_and_article(session: Session) -> None:
    watchlist = Watchlist(id="w", name="W", query="x")
    article = _article()
    session.add_all([watchlist, article])
    session.flush()
    session.add(Hit(watchlist_id="w", article_id=article.id))
    session.commit()
    session.add(Hit(watchlist_id="w", article_id=article.id))
    with pytest.raises(IntegrityError):
        session.commit()


def test_it_refuses_a_second_delivery_with_the_same_key(session: Session) -> None:
    session.add(Destination(key="slack:#desk", channel="slack"))
    session.flush()
    session.add(
        Delivery(dedupe_key="hit:1:slack:#desk", destination="slack:#desk", channel="slack")
    )
    session.commit()
    session.add(
        Delivery(dedupe_key="hit:1:slack:#desk", destination="slack:#desk", channel="slack")
    )
    with pytest.raises(IntegrityError):
        session.commit()


def test_it_returns_aware_utc_times(session: Session) -> None:
    lagos = datetime(2026, 1, 2, 9, 0, tzinfo=UTC) + timedelta(hours=1)
    session.add(_article(published_at=lagos))
    session.commit()
    session.expunge_all()
    stored = session.scalars(select(Article)).one()
    assert stored.published_at == lagos
    assert stored.published_at is not None and stored.published_at.tzinfo is not None
    assert stored.first_seen_at.tzinfo is not None


def test_it_refuses_naive_datetimes(session: Session) -> None:
    session.add(_article(published_at=datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        session.commit()


def test_it_finds_due_feeds_in_order(session: Session) -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    session.add_all(
        [
            Feed(url="https://late.example", next_poll_at=now + timedelta(minutes=5)),
            Feed(url="https://due.example", next_poll_at=now - timedelta(minutes=1)),
            Feed(url="https://off.example", next_poll_at=now - timedelta(hours=1), enabled=False),
            Feed(url="https://new.example", next_poll_at=None),
        ]
    )
    session.commit()
    due = session.scalars(
        select(Feed.url)
        .where(Feed.enabled.is_(True))
        .where((Feed.next_poll_at.is_(None)) | (Feed.next_poll_at <= now))
        .order_by(Feed.next_poll_at)
    ).all()
    assert set(due) == {"https://due.example", "https://new.example"}
