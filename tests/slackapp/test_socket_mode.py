"""Socket Mode: slack-sdk's client opens apps.connections.open at the stand-in, connects to
its websocket, acknowledges each envelope and applies the click in it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from monitor.config import Settings
from monitor.slackapp.socketmode import Listener
from tests.conftest import ROOT
from tests.pipeline.conftest import Proc, base_env, monitor
from tests.slackapp.conftest import Alerted, eventually, fresh
from tests.support.slack_standin import SlackStandIn


@pytest.fixture
def listener(slack_settings: Settings) -> Iterator[Listener]:
    listening = Listener(slack_settings)
    listening.connect()
    yield listening
    listening.close()


def test_it_acknowledges_an_envelope_and_applies_the_click(
    slack_settings: Settings,
    slack: SlackStandIn,
    alert: Callable[..., Alerted],
    listener: Listener,
) -> None:
    posted = alert()
    [opened] = [r for r in slack.received if r.kind == "socket"]
    assert opened.headers["authorization"] == f"Bearer {slack.app_token}"
    envelope = slack.click_by_socket(posted.channel, posted.ts, "monitor.relevant")
    ack = slack.socket.wait_for_ack(envelope)  # type: ignore[union-attr]
    assert ack == {"envelope_id": envelope}
    assert eventually(lambda: fresh(slack_settings, posted.hit_id).label == "relevant")
    assert eventually(lambda: slack.responses)
    said = str(slack.message(posted.channel, posted.ts)["blocks"])
    assert "Marked relevant by <@U0ALICE>" in said


def test_it_applies_a_redelivered_envelope_once(
    slack_settings: Settings,
    slack: SlackStandIn,
    alert: Callable[..., Alerted],
    listener: Listener,
) -> None:
    # Slack sends an envelope again when it missed the ack: same payload, same action_ts.
    posted = alert()
    payload = slack.payload(posted.channel, posted.ts, "monitor.not_relevant")
    assert slack.socket is not None
    for _ in range(2):
        slack.socket.wait_for_ack(slack.socket.send_interactive(payload))
    assert eventually(lambda: listener.handled == 2)
    assert fresh(slack_settings, posted.hit_id).label == "not_relevant"
    replaced = [r for r in slack.responses if r.body.get("replace_original") is True]
    assert len(replaced) == 1


def test_it_refuses_a_bot_token_where_an_app_token_belongs(
    slack_settings: Settings, slack: SlackStandIn
) -> None:
    wrong = slack_settings.model_copy(update={"slack_app_token": SecretStr(slack.token)})
    with pytest.raises(Exception, match="not_allowed_token_type"):
        Listener(wrong).connect()


def listen(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "slack", "listen"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "MONITOR_DATABASE_URL": f"sqlite:///{tmp_path}/monitor.db",
            "MONITOR_VAR_DIR": str(tmp_path / "var"),
            **env,
        },
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({}, "MONITOR_SLACK_APP_TOKEN is not set"),
        ({"MONITOR_SLACK_APP_TOKEN": "xoxb-a-bot-token"}, "starts with 'xapp-'"),
        ({"MONITOR_SLACK_APP_TOKEN": "xapp-revoked"}, "Slack refused Socket Mode: invalid_auth"),
    ],
    ids=["unset", "bot token", "refused"],
)
def test_it_says_in_one_line_why_it_cannot_listen(
    tmp_path: Path, slack: SlackStandIn, env: dict[str, str], said: str
) -> None:
    done = listen(tmp_path, MONITOR_SLACK_BASE_URL=slack.base_url, **env)
    assert done.returncode != 0
    assert said in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "xoxb-a-bot-token" not in done.stderr and "xapp-revoked" not in done.stderr


@pytest.mark.slow
def test_it_listens_from_monitor_run_when_an_app_token_is_set(
    tmp_path: Path, slack: SlackStandIn
) -> None:
    env = base_env(
        MONITOR_DATABASE_URL=f"sqlite:///{tmp_path}/monitor.db",
        MONITOR_BROKER_URL=f"sqla+sqlite:///{tmp_path}/broker.db",
        MONITOR_VAR_DIR=tmp_path / "var",
        MONITOR_SLACK_BASE_URL=slack.base_url,
        MONITOR_SLACK_APP_TOKEN=slack.app_token,
    )
    run = Proc("run", monitor("run", "--no-dashboard", "--concurrency", "1"), env=env, cwd=tmp_path)
    try:
        assert eventually(lambda: slack.socket is not None, timeout=90), run.output()
        assert slack.socket is not None
        slack.socket.wait_for_client(timeout=60)
        # Not a click of ours: acknowledged all the same, and nothing else happens.
        envelope = slack.socket.send_interactive({"type": "block_actions", "actions": []})
        assert slack.socket.wait_for_ack(envelope)["envelope_id"] == envelope
        assert "monitor: listening for Slack clicks over Socket Mode" in run.output()
    finally:
        assert run.stop(timeout=60) == 0, run.output()


def test_it_keeps_listening_when_a_click_fails(
    slack_settings: Settings,
    slack: SlackStandIn,
    alert: Callable[..., Alerted],
    tmp_path: Path,
) -> None:
    posted = alert()
    # A database without the schema: every click fails inside the listener.
    broken = sessionmaker(bind=create_engine(f"sqlite:///{tmp_path}/empty.db"))
    listening = Listener(slack_settings, sessions=broken)
    listening.connect()
    try:
        assert slack.socket is not None
        for _ in range(2):
            envelope = slack.click_by_socket(posted.channel, posted.ts, "monitor.relevant")
            assert slack.socket.wait_for_ack(envelope)["envelope_id"] == envelope
        time.sleep(0.5)
        assert listening.handled == 0 and slack.responses == []
    finally:
        listening.close()
    assert fresh(slack_settings, posted.hit_id).label is None
