"""The effect a desk sees: five outlets carry one wire story, one alert goes out.

Real pieces end to end, in one process (``run_once``): five RSS feeds on a loopback server,
the poller, story assignment, the matcher, the outbox and the Slack stand-in.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from monitor import db as storage
from monitor.config import Settings
from monitor.models import Article, Hit, HitArticle, Story
from monitor.pipeline import run_once
from tests.clustering.texts import FLOOD, cut, with_byline, with_edits
from tests.conftest import make_settings
from tests.pipeline.servers import FeedServer
from tests.support.slack_standin import SlackStandIn

TOKEN = "xoxb-standin-token"
TITLE = "Floods hit Abeokuta after Ogun river bursts its banks"
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _reordered(text: str) -> str:
    paragraphs = text.split("\n")
    paragraphs[2], paragraphs[3] = paragraphs[3], paragraphs[2]
    return "\n".join(paragraphs)


# One wire story as five outlets publish it: each with its own URL and GUID.
COPIES = [
    ("wire", TITLE, FLOOD),
    ("daily", TITLE, with_byline(FLOOD)),
    ("herald", "Floods hit Abeokuta as Ogun river bursts its banks", with_edits(FLOOD)),
    ("courier", TITLE, cut(FLOOD)),
    ("observer", TITLE, _reordered(FLOOD)),
]


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(token=TOKEN) as server:
        yield server


def _configure(tmp_path: Path, feed_server: FeedServer, slack: SlackStandIn) -> Settings:
    # Each copy is on its feed at the feed's first poll: alerted, as these tests are about
    # the copies, not about a new feed's backlog (tests/pipeline/test_alert_age.py).
    feeds = [
        {"url": feed_server.url(name), "name": name.title(), "alert_first_poll": True}
        for name, _, _ in COPIES
    ]
    (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"feeds": feeds}))
    (tmp_path / "watchlists").mkdir()
    (tmp_path / "watchlists" / "floods.yaml").write_text(
        yaml.safe_dump(
            {"id": "floods", "query": '"Ogun river" AND flood*', "alerts": [{"slack": "#desk"}]}
        )
    )
    # The recommended threshold (docs/clustering.md): the cut copy is at Jaccard ~0.66.
    settings = make_settings(
        tmp_path, slack_base_url=slack.base_url, slack_bot_token=TOKEN, cluster_threshold=0.5
    )
    storage.upgrade(settings)
    return settings


def _publish(feed_server: FeedServer, index: int) -> None:
    name, title, body = COPIES[index]
    feed_server.publish(name, title, body, guid=f"{name}-ogun-flood")


def test_it_sends_one_slack_message_for_five_copies_from_five_feeds(
    tmp_path: Path, feed_server: FeedServer, slack: SlackStandIn
) -> None:
    settings = _configure(tmp_path, feed_server, slack)
    for index in range(len(COPIES)):
        _publish(feed_server, index)

    summary = run_once(settings, now=NOW)

    assert summary.new_articles == 5
    assert len(slack.posts) == 1, [p.all_text() for p in slack.posts]
    assert slack.posts[0].channel == "#desk"
    with storage.session_scope(settings) as session:
        assert session.scalar(select(func.count(Story.id))) == 1
        assert session.scalar(select(Story.article_count)) == 5
        assert len(set(session.scalars(select(Article.url)))) == 5
        hit = session.scalars(select(Hit)).one()
        assert hit.source_count == 5
        attached = session.scalar(select(func.count()).select_from(HitArticle))
        assert attached == 4


def test_it_threads_later_copies_under_the_first_alert(
    tmp_path: Path, feed_server: FeedServer, slack: SlackStandIn
) -> None:
    # The copies arrive over five polls an hour apart, after the first alert went out.
    settings = _configure(tmp_path, feed_server, slack)
    for index in range(len(COPIES)):
        _publish(feed_server, index)
        run_once(settings, now=NOW + timedelta(hours=index))

    top_level = [p for p in slack.posts if p.thread_ts is None]
    assert len(top_level) == 1, [p.all_text() for p in slack.posts]
    with storage.session_scope(settings) as session:
        hit = session.scalars(select(Hit)).one()
        assert hit.source_count == 5
    replies = [p for p in slack.posts if p.thread_ts is not None]
    # 'Also reported by ...': one quiet reply per later copy, all in the alert's thread.
    assert len(replies) == 4
    assert len({reply.thread_ts for reply in replies}) == 1
