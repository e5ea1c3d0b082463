"""Dedup on both databases: identity is unique, links per feed, only new articles returned."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.feeds import poll_feed
from monitor.feeds.normalise import articles_from_bytes
from monitor.feeds.store import store_articles
from monitor.models import Article, ArticleFeed
from tests.feeds.conftest import NOW, add_feed, rss
from tests.support.feedserver import FeedServer


def count(session: Session, model: type) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_it_returns_only_new_articles(session: Session) -> None:
    feed = add_feed(session, "https://a.example.org/rss")
    articles = articles_from_bytes(rss(("1", "One"), ("2", "Two")), url=feed.url, now=NOW)

    first = store_articles(session, feed.id, articles, now=NOW)
    again = store_articles(session, feed.id, articles, now=NOW)
    session.commit()

    assert len(first) == 2 and again == []
    assert count(session, Article) == 2 and count(session, ArticleFeed) == 2
    stored = session.get_one(Article, first[0])
    assert stored.matched_at is None and stored.source_feed_id == feed.id
    assert stored.published_at == NOW and stored.first_seen_at == NOW


def test_it_links_one_article_to_the_two_feeds_that_carry_it(session: Session) -> None:
    wire = add_feed(session, "https://wire.example.org/rss")
    paper = add_feed(session, "https://paper.example.org/rss")
    story = articles_from_bytes(
        b"<rss version='2.0'><channel><title>t</title><item><title>Quake</title>"
        b"<link>https://news.example.org/quake?utm_medium=feed#top</link></item></channel></rss>",
        url=wire.url,
        now=NOW,
    )
    # The paper carries the same link with other tracking parameters.
    copy = [replace(story[0], title="Quake (paper)")]

    from_wire = store_articles(session, wire.id, story, now=NOW)
    from_paper = store_articles(session, paper.id, copy, now=NOW + timedelta(minutes=5))
    session.commit()

    assert len(from_wire) == 1 and from_paper == []
    assert count(session, Article) == 1
    links = session.execute(select(ArticleFeed.feed_id).order_by(ArticleFeed.feed_id)).all()
    assert [row[0] for row in links] == [wire.id, paper.id]
    article = session.get_one(Article, from_wire[0])
    assert article.source_feed_id == wire.id and article.title == "Quake"


def test_it_keeps_items_with_the_same_bare_guid_in_two_feeds_apart(session: Session) -> None:
    one = add_feed(session, "https://one.example.org/rss")
    two = add_feed(session, "https://two.example.org/rss")
    document = rss(("1", "Same GUID"))
    a = store_articles(session, one.id, articles_from_bytes(document, url=one.url), now=NOW)
    b = store_articles(session, two.id, articles_from_bytes(document, url=two.url), now=NOW)
    assert len(a) == len(b) == 1 and a != b


def test_it_polls_two_feeds_into_one_article(
    server: FeedServer, session: Session, settings: Settings
) -> None:
    story = (
        b"<rss version='2.0'><channel><title>t</title><item><guid>https://news.example.org/s1"
        b"</guid><title>Shared</title></item></channel></rss>"
    )
    server.set("/a", story)
    server.set("/b", story)
    a = add_feed(session, server.url("/a"))
    b = add_feed(session, server.url("/b"))

    first = poll_feed(session, a.id, settings=settings, now=NOW)
    second = poll_feed(session, b.id, settings=settings, now=NOW)

    assert first.outcome == "new" and len(first.new_article_ids) == 1
    assert second.outcome == "unchanged" and second.new_article_ids == []
    assert count(session, Article) == 1 and count(session, ArticleFeed) == 2


def test_it_stores_large_batches(session: Session) -> None:
    feed = add_feed(session, "https://big.example.org/rss")
    items = [(str(i), f"Item {i}") for i in range(450)]
    articles = articles_from_bytes(rss(*items), url=feed.url, now=NOW)
    new = store_articles(session, feed.id, articles, now=NOW)
    more = articles_from_bytes(rss(*items, ("x", "Extra")), url=feed.url, now=NOW)
    again = store_articles(session, feed.id, more, now=NOW)
    assert len(new) == 450 and len(again) == 1
    assert [session.get_one(Article, i).title for i in new[:2]] == ["Item 0", "Item 1"]
