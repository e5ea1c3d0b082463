"""Store articles once, however many feeds carry them.

The identity column is unique, so dedup is the database's job: new articles are inserted with
``INSERT ... ON CONFLICT (identity) DO NOTHING RETURNING id``, one statement for a whole poll
(:mod:`monitor.bulk`), which is also safe when two workers store the same story at the same
moment. Every
article seen in a feed, new or not, gets an ``article_feeds`` link. Only the ids the insert
returned are new: those, and only those, go on to matching (``matched_at`` stays NULL).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from monitor.bulk import insert_rows
from monitor.feeds.normalise import ArticleData
from monitor.models import Article, ArticleFeed

__all__ = ["store_articles"]


def store_articles(
    session: Session, feed_id: int, articles: Sequence[ArticleData], *, now: datetime
) -> list[int]:
    """Insert the new articles and link all of them to the feed; return the new ids in order."""
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
        for a in articles
    ]
    # One statement for the whole poll, however many entries it carried (monitor.bulk).
    inserted = insert_rows(
        session, _ARTICLES, rows, conflict=["identity"], returning=["id", "identity"]
    )
    by_identity = {identity: article_id for article_id, identity in inserted}
    missing = [a.identity for a in articles if a.identity not in by_identity]
    ids = dict(by_identity)
    if missing:
        existing = session.execute(
            select(Article.identity, Article.id).where(Article.identity.in_(missing))
        ).all()
        ids.update({identity: article_id for identity, article_id in existing})
    links = {
        # An entry listed twice in one feed is one link.
        ids[a.identity]: {
            "article_id": ids[a.identity],
            "feed_id": feed_id,
            "seen_at": now,
            "entry_url": a.url or None,
        }
        for a in articles
        if a.identity in ids
    }
    insert_rows(session, _LINKS, list(links.values()), conflict=["article_id", "feed_id"])
    return list(
        dict.fromkeys(by_identity[a.identity] for a in articles if a.identity in by_identity)
    )


_ARTICLES = cast(Table, Article.__table__)
_LINKS = cast(Table, ArticleFeed.__table__)
