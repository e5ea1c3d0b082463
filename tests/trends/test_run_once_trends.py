"""``monitor run --once`` runs the spike check: a watchlist file with a ``spike:`` block, a
seeded burst in the database, and the one Spike alert sent to the Slack stand-in."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import yaml
from pydantic import SecretStr
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.models import Article, Hit, utcnow
from monitor.pipeline import run_once
from tests.conftest import make_settings
from tests.support.slack_standin import SlackStandIn


def test_it_sends_one_spike_alert_from_run_once_and_no_second(tmp_path: Path) -> None:
    (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"feeds": []}))
    (tmp_path / "watchlists").mkdir()
    (tmp_path / "watchlists" / "nk.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "nk-russia",
                "name": "North Korea and Russia",
                "query": "Pyongyang AND Moscow",
                "alerts": [{"slack": "#desk"}],
                "spike": {"baseline": "14d", "min_stories": 5},
            }
        )
    )
    now = utcnow().replace(microsecond=0)
    with SlackStandIn() as slack:
        settings = make_settings(
            tmp_path, slack_base_url=slack.base_url, slack_bot_token=SecretStr(slack.token)
        )
        storage.upgrade(settings)
        assert run_once(settings, now=now - timedelta(hours=2)).spikes == 0  # loads the file
        with storage.sessionmaker_for(settings)() as session:
            seed(session, now)
        summary = run_once(settings, now=now)
        assert summary.spikes == 1
        assert "spikes:     1 started" in str(summary)
        [post] = [p for p in slack.posts if p.text.startswith("Spike: ")]
        assert post.text.startswith("Spike: North Korea and Russia: ")
        assert run_once(settings, now=now + timedelta(minutes=5)).spikes == 0
        assert sum(p.text.startswith("Spike: ") for p in slack.posts) == 1


def seed(session: Session, now: datetime) -> None:
    """A story every three hours for three weeks, then eight in the last half hour."""
    moments = [now - timedelta(hours=3 * n + 1) for n in range(1, 21 * 8)]
    moments += [now - timedelta(minutes=3 * n + 1) for n in range(8)]
    for n, moment in enumerate(moments):
        article = Article(
            identity=f"nk-{n}",
            title=f"Pyongyang and Moscow, item {n}",
            published_at=moment,
            first_seen_at=moment,
            matched_at=moment,
        )
        session.add(article)
        session.flush()
        session.add(
            Hit(
                watchlist_id="nk-russia",
                article_id=article.id,
                created_at=moment,
                matched=["Pyongyang", "Moscow"],
                not_alerted="too_old",
            )
        )
    session.commit()
