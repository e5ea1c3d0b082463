"""The matcher's view of an article: one rule for live matching, the backtest and
``monitor match``, and one rule for an article's source."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.documents import WITH_FEEDS, parsed_document, stored_document
from monitor.feeds.normalise import ArticleData
from monitor.models import Article, ArticleFeed, Feed, source_name, utcnow


def _article(session: Session, n: int, title: str, *, feed: Feed | None = None) -> Article:
    article = Article(
        identity=hashlib.sha256(str(n).encode()).hexdigest(),
        url=f"https://news.example.org/{n}",
        title=title,
        source_feed_id=feed.id if feed else None,
    )
    session.add(article)
    session.flush()
    if feed is not None:
        session.add(ArticleFeed(article_id=article.id, feed_id=feed.id))
    session.commit()
    return article


def _loaded(session: Session, article: Article) -> Article:
    session.expire_all()
    return session.get_one(Article, article.id, options=[WITH_FEEDS])


@pytest.mark.parametrize(
    ("feed_name", "expected_source"),
    [("Premium Times", "Premium Times"), (None, "feeds.example.org")],
    ids=["feed-name", "feed-title-fallback"],
)
def test_it_builds_the_document_from_the_article_and_its_feeds(
    session: Session, feed_name: str | None, expected_source: str
) -> None:
    feed = Feed(
        url="https://feeds.example.org/rss",
        name=feed_name,
        title="feeds.example.org",
        tags=["nigeria", "business"],
    )
    session.add(feed)
    session.flush()
    article = _article(session, 1, "Oil price jumps", feed=feed)
    doc = stored_document(_loaded(session, article))
    assert doc.id == str(article.id)
    assert doc.title == "Oil price jumps"
    assert doc.source == expected_source
    assert doc.feeds == frozenset({feed.display_name})
    assert doc.tags == frozenset({"nigeria", "business"})


def test_it_falls_back_to_the_host_when_no_feed_carried_it(session: Session) -> None:
    article = _article(session, 1, "Oil price jumps")
    doc = stored_document(_loaded(session, article))
    assert doc.source == "news.example.org"
    assert doc.feeds == frozenset()


def test_the_backtest_and_live_matching_read_an_article_alike(session: Session) -> None:
    # The backtest loads articles in bulk; live matching loads them one by one. Both must
    # give the matcher the same document, feeds in the order they carried the article.
    first = Feed(url="https://a.example.org/rss", name="Alpha", tags=["wire"])
    second = Feed(url="https://b.example.org/rss", title="Beta", tags=["nigeria"])
    session.add_all([first, second])
    session.flush()
    article = _article(session, 7, "Naira slides", feed=second)
    session.add(ArticleFeed(article_id=article.id, feed_id=first.id, seen_at=utcnow()))
    session.commit()
    live = stored_document(_loaded(session, article))
    session.expire_all()
    bulk = session.scalars(select(Article).options(WITH_FEEDS)).one()
    assert stored_document(bulk) == live
    assert live.source == "Beta"  # the feed that brought it first
    assert live.feeds == frozenset({"Alpha", "Beta"})
    assert live.tags == frozenset({"wire", "nigeria"})


@pytest.mark.parametrize(
    ("name", "title", "feed_url", "url", "expected"),
    [
        ("Premium Times", "PT", "https://pt.example/rss", "https://x.example/a", "Premium Times"),
        (None, "PT", "https://pt.example/rss", "https://x.example/a", "PT"),
        (None, None, "https://u:tok@pt.example/rss?key=s3", "https://x.example/a", "x.example"),
        (None, None, "https://u:tok@pt.example/rss?key=s3", None, "pt.example"),
        (None, None, "https://pt.example/rss", "http://[::1/broken", "pt.example"),
    ],
    ids=["name", "title", "article-host", "feed-host-never-its-url", "malformed-ipv6"],
)
def test_it_names_a_source_by_one_rule(
    name: str | None, title: str | None, feed_url: str, url: str | None, expected: str
) -> None:
    feed = Feed(url=feed_url, name=name, title=title)
    assert source_name(feed, url) == expected
    assert "tok" not in source_name(feed, url) and "s3" not in source_name(feed, url)


def test_it_gives_an_entry_from_a_feed_file_the_live_source() -> None:
    item = ArticleData(
        identity="abc",
        url="https://www.premiumtimesng.com/news/1.html",
        title="Naira slides",
        summary="",
        content="The naira fell.",
        author=None,
        published_at=None,
        language="en",
    )
    doc = parsed_document(item)
    assert doc.source == "www.premiumtimesng.com"
    assert (doc.id, doc.title, doc.content, doc.language) == (
        "abc",
        "Naira slides",
        "The naira fell.",
        "en",
    )
