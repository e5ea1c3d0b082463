"""Fixtures for Slack interactivity: an alert posted to the Slack stand-in by the real
outbox, and the dashboard on a real uvicorn server to receive Slack's signed requests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.alerts.send import deliver
from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.models import Hit
from tests.adversarial.test_dashboard import _serve as serve
from tests.alerts.conftest import NOW, World, alerts
from tests.support.slack_standin import SlackStandIn

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


@pytest.fixture
def slack_settings(settings: Settings, slack: SlackStandIn) -> Settings:
    """Settings that post to the stand-in and take its signed requests; the dashboard has a
    login, so only Slack's signature can let a request to /slack/interactions through."""
    return settings.model_copy(
        update={
            "slack_base_url": slack.base_url,
            "slack_bot_token": SecretStr(slack.token),
            "slack_signing_secret": SecretStr(SIGNING_SECRET),
            "slack_app_token": SecretStr(slack.app_token),
            "dashboard_users": SecretStr("ada:correct-horse"),
        }
    )


@dataclass(frozen=True)
class Alerted:
    """An alert as it landed in the stand-in's channel."""

    channel: str
    ts: str
    hit_id: int
    delivery_id: int


@pytest.fixture
def alert(
    slack_settings: Settings, session: Session, slack: SlackStandIn
) -> Callable[..., Alerted]:
    """Post an alert for a new hit of watchlist 'floods' to *destination* (bot token by
    default), through record_hits and deliver as the pipeline does."""
    world = World(session)

    def post(destination: str = "slack:#desk", title: str = "Heavy flood hits Lagos") -> Alerted:
        spec = world.watchlist("floods", "Floods", alerts=alerts(destination))
        [delivery_id] = world.hit(spec, title, settings=slack_settings, now=NOW)
        session.commit()
        assert deliver(session, delivery_id, settings=slack_settings, now=NOW).sent
        session.commit()
        channel, message = slack.last_message()
        hit_id = session.query(Hit.id).order_by(Hit.id.desc()).limit(1).scalar()
        assert hit_id is not None
        return Alerted(channel, str(message["ts"]), hit_id, delivery_id)

    return post


@pytest.fixture
def dashboard(slack_settings: Settings) -> Iterator[str]:
    """The dashboard on a real uvicorn server; its base URL."""
    with serve(create_app(slack_settings)) as url:
        yield url


def fresh(settings: Settings, hit_id: int) -> Hit:
    """The hit as stored now, read in a session of its own."""
    with storage.sessionmaker_for(settings)() as session:
        hit = session.get(Hit, hit_id)
        assert hit is not None
        session.expunge(hit)
        return hit


def eventually(check: Callable[[], object], *, timeout: float = 10.0) -> object:
    """*check*'s first truthy answer, asked until *timeout* seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)
