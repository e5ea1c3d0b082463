"""``monitor alerts list | retry | test``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor import db as storage
from monitor.alerts.send import deliver
from monitor.cli.main import cli
from monitor.config import Settings, get_settings
from monitor.models import Delivery
from tests.alerts.conftest import NOW, World, alerts
from tests.support.slack_standin import SlackStandIn


@pytest.fixture
def env(sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("MONITOR_DATABASE_URL", sqlite_settings.database_url)
    monkeypatch.setenv("MONITOR_BROKER_URL", sqlite_settings.broker_url)
    get_settings.cache_clear()
    return sqlite_settings


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["alerts", *args], catch_exceptions=False)
    return result.exit_code, result.output


def failed_delivery(settings: Settings, slack: SlackStandIn) -> int:
    from pydantic import SecretStr

    settings = settings.model_copy(
        update={"slack_base_url": slack.base_url, "slack_bot_token": SecretStr(slack.token)}
    )
    slack.archived.add("#old")
    with storage.session_scope(settings) as session:
        world = World(session)
        spec = world.watchlist("floods", alerts=alerts("slack:#old"))
        [delivery_id] = world.hit(spec, settings=settings)
        session.commit()
        assert deliver(session, delivery_id, settings=settings, now=NOW).status == "failed"
    return delivery_id


def test_it_lists_deliveries_and_broken_destinations(env: Settings, slack: SlackStandIn) -> None:
    assert run("list") == (0, "no deliveries yet\n")
    delivery_id = failed_delivery(env, slack)
    code, out = run("list", "--failed")
    assert code == 0
    assert f"{delivery_id:>6}" in out and "failed" in out and "Slack refused: is_archived" in out
    assert "broken destination slack:#old: Slack refused: is_archived" in out


def test_it_queues_failed_deliveries_again_and_clears_the_flag(
    env: Settings, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery_id = failed_delivery(env, slack)
    slack.archived.clear()
    monkeypatch.setenv("MONITOR_SLACK_BASE_URL", slack.base_url)
    monkeypatch.setenv("MONITOR_SLACK_BOT_TOKEN", slack.token)
    code, out = run("retry", "--failed", "--send")
    assert code == 0, out
    lines = out.splitlines()  # the log lines of the send may be mixed in
    assert lines[0] == "1 delivery queued again" and f"delivery {delivery_id}: sent" in lines
    assert "broken destination" not in run("list")[1]
    with storage.session_scope(env) as session:
        assert session.scalars(select(Delivery.status)).one() == "sent"


def test_it_queues_by_id_for_the_worker(env: Settings, slack: SlackStandIn) -> None:
    delivery_id = failed_delivery(env, slack)
    assert run("retry", str(delivery_id)) == (0, "1 delivery queued again\n")
    with storage.session_scope(env) as session:
        assert session.scalars(select(Delivery.status)).one() == "pending"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["retry"], "monitor: say which deliveries: monitor alerts retry ID ... or --failed"),
        (["retry", "999"], "monitor: no delivery with id 999"),
        (["test", "pager:duty"], "monitor: unknown destination 'pager:duty': use slack:#channel"),
        (["test", "slack:not a channel"], "monitor: slack:not a channel: 'not a channel' is not"),
        (
            ["test", "email:desk@example.org"],
            "monitor: test message to email:desk@example.org "
            "failed (permanent): MONITOR_SMTP_URL is not set",
        ),
    ],
    ids=["retry-nothing", "retry-unknown", "test-unknown-kind", "test-bad-channel", "test-no-smtp"],
)
def test_it_explains_mistakes_in_one_line(env: Settings, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["alerts", *args])
    assert result.exit_code == 1
    assert result.output.startswith(message) and result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_it_sends_a_test_message_and_prints_the_outcome(
    env: Settings, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_SLACK_BASE_URL", slack.base_url)
    monkeypatch.setenv("MONITOR_SLACK_BOT_TOKEN", slack.token)
    code, out = run("test", "slack:#desk")
    assert code == 0
    ts = slack.posts[0].answer["ts"]  # type: ignore[index]
    assert (
        out
        == f"test message sent to slack:#desk (message id {ts} in {slack.channel_id('#desk')})\n"
    )
    assert slack.posts[0].text == "Test alert from monitor"
    slack.archived.add("#old")
    result = CliRunner().invoke(cli, ["alerts", "test", "slack:#old"])
    assert result.exit_code == 1
    assert result.output == (
        "monitor: test message to slack:#old failed (permanent): Slack refused: is_archived\n"
    )
    assert slack.token not in result.output


def test_it_tests_the_console(env: Settings) -> None:
    code, out = run("test", "console")
    assert code == 0 and out.endswith("test message sent to console\n")
    assert "ALERT Test alert from monitor" in out and "If you can read this, *alerts* for" in out


@pytest.mark.parametrize(
    ("destination", "env", "secret"),
    [
        ("slack:#desk", {"MONITOR_SLACK_BOT_TOKEN": "xoxb-hunter2"}, "hunter2"),
        ("webhook:SLACK_WEBHOOK_DESK", {}, "T0/B0/hunter2"),
        ("email:desk@example.org", {"MONITOR_SMTP_URL": "smtp://desk:hunter2@{host}"}, "hunter2"),
    ],
    ids=["slack", "webhook", "email"],
)
def test_it_reports_an_unreachable_destination_in_one_line_without_secrets(
    sqlite_settings: Settings, destination: str, env: dict[str, str], secret: str
) -> None:
    # A real process: with logging left unconfigured, anything a library logs reaches stderr.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{closed.getsockname()[1]}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    environment |= {
        "MONITOR_DATABASE_URL": sqlite_settings.database_url,
        "MONITOR_SLACK_BASE_URL": f"http://{host}/api/",
        "SLACK_WEBHOOK_DESK": f"http://{host}/services/T0/B0/hunter2",
    }
    environment |= {name: value.format(host=host) for name, value in env.items()}
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "alerts", "test", destination],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"monitor: test message to {destination} failed (temporary)")
    assert result.stderr.count("\n") == 1, result.stderr
    assert secret not in result.stderr
