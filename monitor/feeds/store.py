"""Store articles once, however many feeds carry them.

The identity column is unique, so dedup is the database's job: new articles are inserted with
``INSERT ... ON CONFLICT (identity) DO NOTHING RETURNING id`` (the same statement on SQLite and
PostgreSQL), which is also safe when two workers store the same story at the same moment. Every
article seen in a feed, new or not, gets an ``article_feeds`` link. Only the ids the insert
returned are new: those, and only those, go on to matching (``matched_at`` stays NULL).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.feeds.normalise import ArticleData
from monitor.models import Article, ArticleFeed

__all__ = ["store_articles"]

# Rows per statement: well under SQLite's limit on bound parameters.
BATCH = 200


def store_articles(
    session: Session, feed_id: int, articles: Sequence[ArticleData], *, now: datetime
) -> list[int]:
    """Insert the new articles and link all of them to the feed; return the new ids in order."""
    insert: Any = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    new_ids: list[int] = []
    for start in range(0, len(articles), BATCH):
        batch = articles[start : start + BATCH]
        rows = [
            {
                "identity": a.identity,
                "url": a.url or None,
                "title": a.title,
                "summary": a.summary,
                "content": a.content,
                "author": a.author,
                "published_at": a.published_at or now,
                "language": a.language,
                "source_country": a.source_country,
                "first_seen_at": now,
                "source_feed_id": feed_id,
            }
            for a in batch
        ]
        # A Core statement run with a list of parameters: SQLAlchemy compiles it once and
        # batches the rows itself ('insertmanyvalues'), several times faster than .values(rows).
        inserted = session.execute(_insert_articles(insert), rows).all()
        by_identity = {identity: article_id for article_id, identity in inserted}
        missing = [a.identity for a in batch if a.identity not in by_identity]
        if missing:
            existing = session.execute(
                select(Article.identity, Article.id).where(Article.identity.in_(missing))
            ).all()
            ids = dict(by_identity)
            ids.update({identity: article_id for identity, article_id in existing})
        else:
            ids = by_identity
        links = [
            {
                "article_id": ids[a.identity],
                "feed_id": feed_id,
                "seen_at": now,
                "entry_url": a.url or None,
            }
            for a in batch
            if a.identity in ids
        ]
        if links:
            session.execute(_insert_links(insert), links)
        new_ids.extend(by_identity[a.identity] for a in batch if a.identity in by_identity)
    return new_ids


_ARTICLES = Article.__table__
_LINKS = ArticleFeed.__table__


def _insert_articles(insert: Any) -> Any:
    return (
        insert(_ARTICLES)
        .on_conflict_do_nothing(index_elements=["identity"])
        .returning(_ARTICLES.c.id, _ARTICLES.c.identity)
    )


def _insert_links(insert: Any) -> Any:
    return insert(_LINKS).on_conflict_do_nothing(index_elements=["article_id", "feed_id"])


def _dialect(session: Session) -> str:
    bind = session.get_bind()
    return bind.dialect.name
