"""Fixtures for the triage tests: the alerting tests' world of rows, the Slack stand-in and a
real SMTP server, and settings that send to them."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from monitor.config import Settings
from tests.alerts.conftest import slack, smtp, world
from tests.support.slack_standin import SlackStandIn

__all__ = ["slack", "smtp", "world"]

PUBLIC_URL = "https://monitor.example"


@pytest.fixture
def slack_settings(settings: Settings, slack: SlackStandIn) -> Settings:
    return settings.model_copy(
        update={
            "slack_base_url": slack.base_url,
            "slack_bot_token": SecretStr(slack.token),
            "public_url": PUBLIC_URL,
        }
    )
