"""``monitor run --once``: one whole cycle in-process, for cron users and smoke tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from monitor import db as storage
from monitor.config import Settings
from monitor.models import Article, Delivery, Hit
from monitor.pipeline import run_once
from tests.conftest import make_settings
from tests.pipeline.conftest import base_env, monitor
from tests.pipeline.servers import FeedServer, SlackStandIn


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    server = SlackStandIn()
    yield server
    server.close()


def _configure(tmp_path: Path, feed_server: FeedServer) -> None:
    # What the first poll finds is alerted here: the cycle, not the backlog rule, is tested.
    feeds = [{"url": feed_server.url("wire"), "name": "Wire", "alert_first_poll": True}]
    (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"feeds": feeds}))
    (tmp_path / "watchlists").mkdir()
    (tmp_path / "watchlists" / "grid.yaml").write_text(
        yaml.safe_dump(
            {"id": "grid", "query": '"turbine failure" OR blackout', "alerts": [{"slack": "#grid"}]}
        )
    )
    feed_server.publish("wire", "Blackout in Port Harcourt", "The grid collapsed again.")
    feed_server.publish("wire", "Turbine failure at Egbin", "Output fell by half.")
    feed_server.publish("wire", "Election results", "Counting continues.")


def _settings(tmp_path: Path, slack: SlackStandIn) -> Settings:
    settings = make_settings(
        tmp_path, slack_base_url=slack.api_url, slack_bot_token="xoxb-standin-token"
    )
    storage.upgrade(settings)
    return settings


def test_it_polls_matches_stores_and_alerts_in_one_cycle(
    tmp_path: Path, feed_server: FeedServer, slack: SlackStandIn
) -> None:
    _configure(tmp_path, feed_server)
    settings = _settings(tmp_path, slack)

    summary = run_once(settings)

    assert (summary.feeds_due, summary.feeds_polled, summary.feeds_failed) == (1, 1, 0)
    assert summary.new_articles == 3
    assert summary.articles_matched == 3
    assert summary.hits == 2
    assert summary.deliveries_sent == 2
    assert sorted(p.channel for p in slack.posted) == ["#grid", "#grid"]
    with storage.session_scope(settings) as session:
        assert session.execute(select(func.count(Article.id))).scalar_one() == 3
        assert session.execute(select(func.count(Hit.id))).scalar_one() == 2
        statuses = session.execute(select(Delivery.status)).scalars().all()
        assert statuses == ["sent", "sent"]


def test_it_does_nothing_twice_when_run_again(
    tmp_path: Path, feed_server: FeedServer, slack: SlackStandIn
) -> None:
    _configure(tmp_path, feed_server)
    settings = _settings(tmp_path, slack)
    run_once(settings)

    again = run_once(settings)

    # The feed is not due again yet, and nothing already matched or sent is redone.
    assert (again.new_articles, again.hits, again.deliveries_sent) == (0, 0, 0)
    assert len(slack.posted) == 2


def test_it_prints_the_summary_from_the_command_line(
    tmp_path: Path, feed_server: FeedServer, slack: SlackStandIn
) -> None:
    _configure(tmp_path, feed_server)
    env = base_env(
        MONITOR_DATABASE_URL=f"sqlite:///{tmp_path}/monitor.db",
        MONITOR_FEEDS=tmp_path / "feeds.yaml",
        MONITOR_WATCHLISTS=tmp_path / "watchlists",
        MONITOR_VAR_DIR=tmp_path / "var",
        MONITOR_SLACK_BASE_URL=slack.api_url,
        MONITOR_SLACK_BOT_TOKEN="xoxb-standin-token",
    )
    result = subprocess.run(
        monitor("run", "--once"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "1 of 1 due polled" in result.stdout
    assert "3 new, 3 matched" in result.stdout
    assert "hits:       2" in result.stdout
    assert "2 sent" in result.stdout
    assert len(slack.posted) == 2
