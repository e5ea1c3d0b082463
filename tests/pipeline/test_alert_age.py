"""Alerts people can trust, end to end: a new feed's backlog and old news are recorded without
alerts, and a fresh item alerts once, with a link back to its hit.

Real pieces in one process (``run_once``): a feed on a loopback server, the poller, the
matcher, the outbox, the Slack stand-in and an SMTP server (aiosmtpd).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import select

from monitor import db as storage
from monitor.config import Settings
from monitor.models import Article, Hit
from monitor.pipeline import run_once
from monitor.states import NotAlerted
from tests.conftest import make_settings
from tests.support.feedserver import FeedServer
from tests.support.slack_standin import SlackStandIn
from tests.support.smtp import SMTPServer

PUBLIC = "https://monitor.example.org"
T0 = datetime.now(UTC).replace(microsecond=0)

# (guid, title, body, published): the feed as the first poll finds it. Each text is its own
# story, so none joins another's.
BACKLOG = [
    (
        "archive-2011",
        "Tokyo talks: NATO weighs an office in Japan",
        "Diplomats in Brussels first floated a NATO presence in Japan in the spring of 2011.",
        datetime(2011, 4, 18, 9, 0, tzinfo=UTC),
    ),
    (
        "archive-2016",
        "Japan and NATO sign a partnership programme",
        "Defence officials agreed on cyber and maritime cooperation between NATO and Japan.",
        datetime(2016, 10, 2, 14, 0, tzinfo=UTC),
    ),
    (
        "this-morning",
        "NATO liaison office in Japan moves a step closer",
        "Allies discussed the liaison office in Tokyo again this morning, officials said.",
        T0 - timedelta(hours=3),
    ),
    (
        "football",
        "League results",
        "Enyimba beat Rangers two goals to one in Aba on Sunday.",
        T0 - timedelta(hours=2),
    ),
]
FRESH = (
    "fresh",
    "France blocks plan for NATO office in Japan",
    "Paris objected to opening the first NATO liaison office in Japan, diplomats said today.",
    T0 + timedelta(minutes=50),
)
REVIVED = (
    "archive-2014",
    "NATO chief visits Japan for security talks",
    "The secretary general met the Japanese prime minister in Tokyo for talks on security.",
    datetime(2014, 5, 6, 8, 0, tzinfo=UTC),
)


def _rss(items: list[tuple[str, str, str, datetime]]) -> bytes:
    entries = "".join(
        f"<item><guid isPermaLink='false'>{escape(guid)}</guid><title>{escape(title)}</title>"
        f"<link>https://news.example.org/{escape(guid)}</link>"
        f"<description>{escape(body)}</description>"
        f"<pubDate>{format_datetime(published)}</pubDate></item>"
        for guid, title, body, published in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        "<title>Wire</title><link>https://news.example.org/</link>"
        f"<description>test feed</description>{entries}</channel></rss>"
    ).encode()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


def _configure(
    tmp_path: Path, feed_server: FeedServer, slack: SlackStandIn, smtp: SMTPServer
) -> Settings:
    feeds = [{"url": feed_server.url("/wire.xml"), "name": "Wire"}]
    (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"feeds": feeds}))
    (tmp_path / "watchlists").mkdir()
    (tmp_path / "watchlists" / "nato-japan.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "nato-japan",
                "name": "NATO in Japan",
                "query": "NATO AND (Japan OR Tokyo)",
                "alerts": [{"slack": "#asia-desk"}, {"email": ["desk@example.org"]}],
            }
        )
    )
    settings = make_settings(
        tmp_path,
        slack_base_url=slack.base_url,
        slack_bot_token=SecretStr(slack.token),
        smtp_url=SecretStr(smtp.url),
        public_url=PUBLIC,
        # The polls below come an hour apart; adaptive polling would put this quiet feed
        # (two items in years) a day out. Scheduling is tested in tests/feeds.
        poll_adaptive=False,
    )
    storage.upgrade(settings)
    return settings


def _hits(settings: Settings) -> dict[str, tuple[int, str | None]]:
    """Each hit by its article's GUID-derived URL: (hit id, why it was not alerted)."""
    with storage.session_scope(settings) as session:
        rows = session.execute(
            select(Article.url, Hit.id, Hit.not_alerted).join(Hit, Hit.article_id == Article.id)
        ).all()
    return {str(url).rsplit("/", 1)[1]: (hit_id, reason) for url, hit_id, reason in rows}


def test_it_records_the_backlog_and_old_news_and_alerts_only_what_is_fresh(
    tmp_path: Path, feed_server: FeedServer, slack: SlackStandIn, smtp: SMTPServer
) -> None:
    settings = _configure(tmp_path, feed_server, slack, smtp)

    # 1. The first poll finds four items, three of them about NATO and Japan: all recorded,
    #    nothing sent.
    feed_server.set("/wire.xml", _rss(BACKLOG))
    first = run_once(settings, now=T0)
    assert (first.new_articles, first.hits, first.deliveries_sent) == (4, 3, 0)
    assert slack.posts == [] and smtp.messages == []
    assert {guid: reason for guid, (_, reason) in _hits(settings).items()} == {
        "archive-2011": NotAlerted.TOO_OLD,
        "archive-2016": NotAlerted.TOO_OLD,
        "this-morning": NotAlerted.FIRST_POLL,
    }

    # 2. A fresh item, published after the first poll: one alert to each destination, each
    #    with a link to its hit.
    feed_server.set("/wire.xml", _rss([FRESH, *BACKLOG]))
    second = run_once(settings, now=T0 + timedelta(hours=1))
    assert (second.new_articles, second.hits, second.deliveries_sent) == (1, 1, 2)
    hit_id, reason = _hits(settings)["fresh"]
    assert reason is None
    page = f"{PUBLIC}/hits/{hit_id}"
    [post] = slack.posts
    assert post.channel == "#asia-desk" and FRESH[1] in post.text
    assert f"<{page}|Details on the dashboard>" in post.all_text()
    [mail] = smtp.messages
    assert FRESH[1] in mail["Subject"]
    plain = mail.get_body(preferencelist=("plain",))
    assert plain is not None and page in plain.get_content()

    # ...and only once: the next cycle sends nothing again.
    again = run_once(settings, now=T0 + timedelta(hours=1, minutes=1))
    assert again.deliveries_sent == 0 and len(slack.posts) == 1 and len(smtp.messages) == 1

    # 3. An item dated years ago appears later (an archive re-listed): recorded, not alerted.
    feed_server.set("/wire.xml", _rss([REVIVED, FRESH, *BACKLOG]))
    third = run_once(settings, now=T0 + timedelta(hours=2))
    assert (third.new_articles, third.hits, third.deliveries_sent) == (1, 1, 0)
    assert _hits(settings)["archive-2014"][1] == NotAlerted.TOO_OLD
    assert len(slack.posts) == 1 and len(smtp.messages) == 1
