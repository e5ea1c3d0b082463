"""The matcher's view of an article, built by one rule wherever articles are matched.

Live matching (:mod:`monitor.pipeline`), the backtest (``monitor watchlists test``) and
``monitor match`` on local files all hand the matcher a :class:`~monitor.matching.Document`
made here, so a backtest takes the live path: the same fields, the same source
(:func:`monitor.models.source_name`), the feeds that carried the article, in the order they
did, and their tags.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from monitor.feeds.normalise import ArticleData
from monitor.matching import Document
from monitor.matching.language import Settled, settle
from monitor.models import Article, ArticleFeed, Feed, source_name

__all__ = [
    "WITH_FEEDS",
    "carried_feeds",
    "parsed_document",
    "recent_documents",
    "settle_languages",
    "settled_document",
    "stored_document",
]

#: A loader option for articles about to be matched: their feed links and feeds in one more
#: query, instead of one per feed.
WITH_FEEDS = selectinload(Article.feeds).joinedload(ArticleFeed.feed)


def stored_document(article: Article, carried: Sequence[Feed] | None = None) -> Document:
    """A stored article as the matcher reads it; load it with :data:`WITH_FEEDS`, or pass
    the feeds that carried it (:func:`carried_feeds`).

    ``feeds`` holds the names of the feeds that carried it (what a watchlist's ``feeds:``
    names) and ``tags`` their tags."""
    if carried is None:
        links = sorted(article.feeds, key=lambda link: (link.seen_at, link.feed_id))
        carried = [link.feed for link in links]
    return Document(
        id=str(article.id),
        title=article.title or "",
        summary=article.summary or "",
        content=article.content or "",
        url=article.url or "",
        source=article.source_name,
        language=article.language,
        feeds=frozenset(feed.display_name for feed in carried),
        tags=frozenset(str(tag) for feed in carried for tag in (feed.tags or [])),
    )


def carried_feeds(session: Session, articles: Sequence[Article]) -> dict[int, list[Feed]]:
    """The feeds that carried each of *articles*, for :func:`stored_document`: one read of
    their links as plain rows, and one of the feeds the session does not hold yet. Every
    article is linked to the feed that stored it, so its ``source_feed`` is then found in the
    session without a query of its own. A batch of
    hundreds of articles loaded :data:`WITH_FEEDS` builds an object per link and reads its
    feed's every column once per link; this reads each feed once."""
    ids = [article.id for article in articles]
    links = session.execute(
        select(ArticleFeed.article_id, ArticleFeed.feed_id)
        .where(ArticleFeed.article_id.in_(ids))
        .order_by(ArticleFeed.seen_at, ArticleFeed.feed_id)
    ).all()
    feeds: dict[int, Feed] = {}
    missing: set[int] = set()
    for feed_id in {feed_id for _, feed_id in links}:
        held = session.identity_map.get(session.identity_key(Feed, feed_id))
        if isinstance(held, Feed):
            feeds[feed_id] = held
        else:
            missing.add(feed_id)
    if missing:
        feeds.update(
            (feed.id, feed) for feed in session.scalars(select(Feed).where(Feed.id.in_(missing)))
        )
    carried: dict[int, list[Feed]] = {article_id: [] for article_id in ids}
    for article_id, feed_id in links:
        if feed_id in feeds:
            carried[article_id].append(feeds[feed_id])
    return carried


def settle_languages(articles: Sequence[Article]) -> dict[int, dict[str, object]]:
    """Settle each stored article's language from its feed's declaration and its text, keep
    what the detector said (:func:`monitor.matching.language.settle`); return the columns to
    write for each article id. The objects learn them at once; the caller writes them all in
    one statement with the batch's other article columns, so a batch costs the same
    statements however many articles it holds. Done once, when the articles are matched."""
    rows: dict[int, dict[str, object]] = {}
    for article in articles:
        settled = settle(article.language, article.title, article.summary, article.content)
        values: dict[str, object] = {
            "language": settled.language,
            "detected_language": settled.detected,
            "language_confidence": settled.confidence,
        }
        # Written by the caller's statement; set as committed so a flush adds none.
        for key, value in values.items():
            set_committed_value(article, key, value)
        rows[article.id] = values
    return rows


def settled_document(doc: Document) -> tuple[Document, Settled]:
    """*doc* with its language settled as a stored article's is (``monitor match`` on local
    files), and what the detector said."""
    settled = settle(doc.language, doc.title, doc.summary, doc.content)
    return dataclasses.replace(doc, language=settled.language), settled


def parsed_document(item: ArticleData) -> Document:
    """An entry read from a feed file that no stored feed carries (``monitor match``)."""
    return Document(
        id=str(item.identity),
        title=item.title or "",
        summary=item.summary or "",
        content=item.content or "",
        url=item.url or "",
        source=source_name(None, item.url),
        language=item.language,
    )


def recent_documents(session: Session, limit: int = 1_000) -> list[Document]:
    """The text of the *limit* latest stored articles, as the matcher reads it: the sample
    from which the watchlist index learns which words are rare."""
    rows = session.execute(
        select(Article.title, Article.summary, Article.content)
        .order_by(Article.id.desc())
        .limit(limit)
    )
    return [
        Document(id="", title=title or "", summary=summary or "", content=content or "")
        for title, summary, content in rows
    ]
