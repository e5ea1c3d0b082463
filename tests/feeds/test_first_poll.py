"""A new feed's backlog: what its first successful poll finds is marked, so its hits are
recorded without alerts, unless feeds.yaml says ``alert_first_poll: true``. On SQLite and
PostgreSQL, against a real feed server on loopback."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.feeds import poll_feed, sync_feeds
from monitor.feeds.config import FeedSpec, load_feeds_file
from monitor.models import Article, Feed
from tests.feeds.conftest import NOW, add_feed, rss
from tests.support.feedserver import FeedServer


def _marked(session: Session) -> dict[str, bool]:
    session.expire_all()
    return {a.title: a.first_poll for a in session.scalars(select(Article))}


def test_it_marks_what_the_first_successful_poll_finds_and_nothing_later(
    server: FeedServer, session: Session, settings: Settings
) -> None:
    feed = add_feed(session, server.url("/rss"))
    # A failed first attempt is not the first successful poll.
    server.set("/rss", b"oops", status=500)
    assert poll_feed(session, feed.id, settings=settings, now=NOW).outcome == "error"
    server.set("/rss", rss(("a", "Old one"), ("b", "Older one")))

    first = poll_feed(session, feed.id, settings=settings, now=NOW + timedelta(hours=1))
    server.set("/rss", rss(("a", "Old one"), ("b", "Older one"), ("c", "Fresh one")))
    second = poll_feed(session, feed.id, settings=settings, now=NOW + timedelta(hours=2))

    assert (len(first.new_article_ids), len(second.new_article_ids)) == (2, 1)
    assert _marked(session) == {"Old one": True, "Older one": True, "Fresh one": False}


def test_it_marks_nothing_for_a_feed_that_asks_to_alert_its_first_poll(
    server: FeedServer, session: Session, settings: Settings
) -> None:
    feed = add_feed(session, server.url("/rss"), alert_first_poll=True)
    server.set("/rss", rss(("a", "Old one"), ("b", "Older one")))

    outcome = poll_feed(session, feed.id, settings=settings, now=NOW)

    assert len(outcome.new_article_ids) == 2
    assert _marked(session) == {"Old one": False, "Older one": False}


def test_it_leaves_an_article_another_feed_brought_first_as_it_was(
    server: FeedServer, session: Session, settings: Settings
) -> None:
    # The same story (a URL GUID) in an old feed, then in a new feed's first poll: it is not
    # new there, so it keeps its alert.
    story = rss(("https://news.example.org/shared", "Shared story"))
    server.set("/old", story)
    server.set("/new", story)
    old = add_feed(session, server.url("/old"), last_success_at=NOW - timedelta(days=1))
    new = add_feed(session, server.url("/new"))

    poll_feed(session, old.id, settings=settings, now=NOW)
    poll_feed(session, new.id, settings=settings, now=NOW)

    assert _marked(session) == {"Shared story": False}


def _write(settings: Settings, text: str) -> None:
    path = Path(settings.feeds)
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_it_reads_alert_first_poll_from_feeds_yaml(session: Session, settings: Settings) -> None:
    _write(
        settings,
        "feeds:\n"
        "  - url: https://a.example.org/rss\n    alert_first_poll: true\n"
        "  - https://b.example.org/rss\n",
    )
    sync_feeds(session, settings)
    session.expire_all()
    rows = {f.url: f.alert_first_poll for f in session.scalars(select(Feed))}
    assert rows == {"https://a.example.org/rss": True, "https://b.example.org/rss": False}

    _write(settings, "feeds:\n  - url: https://a.example.org/rss\n")
    sync_feeds(session, settings)
    session.expire_all()
    assert (
        session.scalars(select(Feed.alert_first_poll).where(Feed.url.contains("a."))).one() is False
    )


def test_it_writes_alert_first_poll_back_only_when_set() -> None:
    assert FeedSpec(url="https://a.example.org/rss").to_yaml() == {
        "url": "https://a.example.org/rss"
    }
    assert FeedSpec(url="https://a.example.org/rss", alert_first_poll=True).to_yaml() == {
        "url": "https://a.example.org/rss",
        "alert_first_poll": True,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "feeds:\n  - url: https://a.example.org/rss\n    alert_first_poll: maybe\n",
            ":3: alert_first_poll: Input should be a valid boolean",
        ),
        (
            "feeds:\n  - url: https://a.example.org/rss\n    alert_first_pol: true\n",
            "unknown key (expected url, name, tags, interval, fulltext, enabled, alert_first_poll,",
        ),
    ],
    ids=["not-a-boolean", "misspelt"],
)
def test_it_names_the_line_of_a_bad_alert_first_poll(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_feeds_file(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
