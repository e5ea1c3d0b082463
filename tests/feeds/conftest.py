"""Fixtures for the feed tests: a loopback feed server and small feed documents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape

import pytest
from sqlalchemy.orm import Session

from monitor.models import Feed
from tests.support.feedserver import FeedServer

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as feed_server:
        yield feed_server


def rss(
    *items: tuple[str, str], title: str = "Test feed", ttl: int | None = None, extra: str = ""
) -> bytes:
    """An RSS 2.0 document; each item is (guid, title)."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{escape(guid)}</guid><title>{escape(text)}</title>"
        f"<link>https://news.example.org/{escape(guid)}?utm_source=rss</link>"
        f"<description>About {escape(text)}</description>"
        f"<pubDate>{format_datetime(NOW)}</pubDate></item>"
        for guid, text in items
    )
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{escape(title)}</title><link>https://news.example.org/</link>"
        f"<language>en</language>{ttl_tag}{extra}{body}</channel></rss>"
    ).encode()


def add_feed(session: Session, url: str, **values: object) -> Feed:
    feed = Feed(url=url, **values)
    session.add(feed)
    session.commit()
    return feed
