"""The schema works the same on SQLite and PostgreSQL (each test runs on both)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.config import Settings
from monitor.feeds import due_feed_ids
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


def _plan(session: Session, run: Callable[[], object]) -> str:
    """The database's plan for the one SELECT that *run* sends, as text.

    PostgreSQL is told not to scan whole tables, so on these tiny tables it still shows the
    index it would use at scale, and a query that has no usable index shows a Seq Scan."""
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(connection, "before_cursor_execute", record)
    [(statement, params)] = statements
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", params).all()
        return "\n".join(row[0] for row in rows)
    rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
    return "\n".join(row[-1] for row in rows)


def test_it_finds_due_feeds_through_the_due_index(session: Session) -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    session.add(Feed(url="https://due.example", next_poll_at=now - timedelta(minutes=1)))
    session.commit()
    plan = _plan(session, lambda: due_feed_ids(session, now=now))
    assert "ix_feeds_due" in plan, plan


def test_it_reads_recent_hits_through_the_recent_index(session: Session) -> None:
    recent = select(Hit.id).order_by(Hit.created_at.desc(), Hit.id.desc()).limit(50)
    plan = _plan(session, lambda: session.scalars(recent).all())
    assert "ix_hits_recent" in plan, plan
    for_one = recent.where(Hit.watchlist_id == "w")
    plan = _plan(session, lambda: session.scalars(for_one).all())
    assert "ix_hits_watchlist_recent" in plan, plan


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        (
            "feeds",
            {"etag", "last_modified", "next_poll_at", "error_streak", "last_status", "last_error"},
        ),
        (
            "articles",
            {
                "identity",
                "url",
                "title",
                "summary",
                "content",
                "author",
                "published_at",
                "language",
                "first_seen_at",
            },
        ),
        ("watchlists", {"id", "name", "content_hash", "enabled", "load_error"}),
        ("hits", {"watchlist_id", "article_id", "matched", "fields", "snippet"}),
        (
            "deliveries",
            {
                "hit_id",
                "destination",
                "status",
                "attempts",
                "last_error",
                "next_attempt_at",
                "sent_at",
                "provider_message_id",
            },
        ),
    ],
    ids=["feeds", "articles", "watchlists", "hits", "deliveries"],
)
def test_it_has_the_columns_the_design_names(
    session: Session, table: str, columns: set[str]
) -> None:
    present = {column["name"] for column in inspect(session.connection()).get_columns(table)}
    assert columns <= present, columns - present
