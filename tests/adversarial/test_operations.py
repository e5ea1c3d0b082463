"""Operations, as an attacker and a new user tried them (issue #19): feeds.yaml at a worker's
start, the workers' metrics on the dashboard, unset alert secrets, ``monitor feeds list``.

Each test drives the real parts: the scheduling stage on SQLite and PostgreSQL, the
dashboard's app, the ``monitor`` command, worker-like processes.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.cli.main import cli
from monitor.config import Settings, get_settings
from monitor.dashboard.app import create_app
from monitor.errors import ConfigError
from monitor.feeds import config as feeds_config
from monitor.feeds.config import REMOVED_REASON, feeds_file_problems
from monitor.logs import configure_logging
from monitor.models import Feed
from monitor.pipeline import schedule_due_feeds
from tests.conftest import ROOT, make_settings

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


# -- helpers ------------------------------------------------------------------------------


def write_feeds(settings: Settings, text: str) -> Path:
    path = Path(settings.feeds)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    # A later second on the clock, so a process that read the last version sees the change.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    return path


def fresh_process() -> None:
    """Forget what this process read: a worker that has just (re)started."""
    feeds_config._state.clear()


def tick(session: Session, settings: Settings) -> list[int]:
    return schedule_due_feeds(session, settings=settings, now=NOW)


def feeds_by_url(session: Session) -> dict[str, Feed]:
    session.expire_all()
    return {feed.url: feed for feed in session.scalars(select(Feed))}


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        "MONITOR_DATABASE_URL": settings.database_url,
        "MONITOR_BROKER_URL": settings.broker_url,
        "MONITOR_FEEDS": str(settings.feeds),
        "MONITOR_WATCHLISTS": str(settings.watchlists),
        "MONITOR_VAR_DIR": str(settings.var_dir),
        "MONITOR_ALLOW_PRIVATE_FEEDS": "1",
        **extra,
    }


def run_monitor(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def json_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


VALID = """
feeds:
  - url: https://a.example.org/rss
    name: Alpha
  - url: https://b.example.org/rss
    name: Bravo
    interval: 15m
"""

# Bravo's entry is broken (line 5), Charlie is new and good.
ONE_BAD_ONE_NEW = """
feeds:
  - url: https://a.example.org/rss
    name: Alpha
  - url: https://b.example.org/rss
    name: Bravo renamed
    interval: 5s
  - url: https://c.example.org/rss
    name: Charlie
"""


# -- 1. a bad feeds.yaml entry at a worker's start ------------------------------------------


def test_it_keeps_the_last_valid_feeds_when_a_restarted_worker_meets_a_bad_entry(
    session: Session, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    write_feeds(settings, VALID)
    tick(session, settings)
    bravo_before = feeds_by_url(session)["https://b.example.org/rss"]
    assert (bravo_before.name, bravo_before.interval_seconds) == ("Bravo", 900)

    path = write_feeds(settings, ONE_BAD_ONE_NEW)
    configure_logging(level="INFO", fmt="json")
    capsys.readouterr()
    fresh_process()
    due = tick(session, settings)  # no exception: the worker goes on polling

    rows = feeds_by_url(session)
    assert set(due) == {feed.id for feed in rows.values()}  # every feed is polled
    charlie = rows["https://c.example.org/rss"]
    assert (charlie.name, charlie.enabled, charlie.in_config) == ("Charlie", True, True)
    bravo = rows["https://b.example.org/rss"]
    # The broken entry leaves its row as the last valid file set it: not renamed, not removed.
    assert (bravo.name, bravo.interval_seconds, bravo.enabled, bravo.in_config) == (
        "Bravo",
        900,
        True,
        True,
    )
    report = f"{path}:6: interval: the interval must be at least 10 seconds"
    assert feeds_file_problems(session) == [report]

    # Two more ticks, the second in yet another fresh process: reported once per change.
    tick(session, settings)
    fresh_process()
    tick(session, settings)
    logged = [line for line in json_lines(capsys.readouterr().err) if line["level"] == "error"]
    assert [(line["event"], line["error"]) for line in logged] == [
        ("feeds.yaml entry not applied", report)
    ]

    # The dashboard's Feeds page and API, and `monitor feeds list`, show the same line.
    with TestClient(create_app(settings)) as client:
        assert report in client.get("/feeds").text
        assert client.get("/api/feeds").json()["problems"] == [report]
    listed = run_monitor(cli_env(settings), "feeds", "list")
    assert listed.exit_code == 0
    assert report in listed.stderr.splitlines()
    assert "Charlie" in listed.stdout and "Bravo" in listed.stdout


def test_it_keeps_the_table_as_is_when_the_file_does_not_parse(
    session: Session, settings: Settings
) -> None:
    write_feeds(settings, VALID)
    tick(session, settings)
    path = write_feeds(settings, "feeds:\n  - url: [https://a.example.org/rss\n")
    fresh_process()
    due = tick(session, settings)
    rows = feeds_by_url(session)
    assert len(due) == 2 and all(f.enabled and f.in_config for f in rows.values())
    assert rows["https://b.example.org/rss"].name == "Bravo"
    (problem,) = feeds_file_problems(session)
    assert problem.startswith(f"{path}:3: ") and "\n" not in problem
    assert problem.endswith("(not applied: the feeds stay as they were)")


def test_it_turns_no_feed_off_while_a_broken_entry_names_no_readable_url(
    session: Session, settings: Settings
) -> None:
    write_feeds(settings, VALID)
    tick(session, settings)
    # Bravo's URL lost its colon: that entry could be any feed, so Bravo is not 'removed'.
    write_feeds(
        settings,
        """
        feeds:
          - url: https://a.example.org/rss
          - url: https//b.example.org/rss
        """,
    )
    fresh_process()
    tick(session, settings)
    bravo = feeds_by_url(session)["https://b.example.org/rss"]
    assert (bravo.enabled, bravo.in_config, bravo.disabled_reason) == (True, True, None)
    # Once the file is whole again, a feed that left it is turned off as before.
    write_feeds(settings, "feeds:\n  - url: https://a.example.org/rss\n")
    tick(session, settings)
    bravo = feeds_by_url(session)["https://b.example.org/rss"]
    assert (bravo.enabled, bravo.in_config, bravo.disabled_reason) == (False, False, REMOVED_REASON)
    assert feeds_file_problems(session) == []


def test_it_refuses_only_a_first_start_with_no_valid_feed_in_one_line(
    session: Session, settings: Settings
) -> None:
    path = write_feeds(settings, "feeds:\n  - url: https://a.example.org/rss\n    interval: 5s\n")
    with pytest.raises(ConfigError) as refused:
        tick(session, settings)
    assert str(refused.value) == f"{path}:3: interval: the interval must be at least 10 seconds"
    # The next tick with the same file is quiet: reported once per change, not every 5 s.
    assert tick(session, settings) == []
    # Each command that starts refuses the same way, in one line, exit 2.
    for args in (("feeds", "list"), ("run", "--once")):
        result = run_monitor(cli_env(settings), *args)
        assert result.exit_code == 2, result.output
        assert result.stderr == f"monitor: {refused.value}\n"


def test_it_does_not_refuse_when_the_file_gives_some_valid_feed(
    session: Session, settings: Settings
) -> None:
    write_feeds(settings, ONE_BAD_ONE_NEW)
    tick(session, settings)
    assert set(feeds_by_url(session)) == {"https://a.example.org/rss", "https://c.example.org/rss"}
    assert len(feeds_file_problems(session)) == 1


def test_it_reports_thousands_of_broken_entries_in_a_bounded_list(
    session: Session, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    write_feeds(settings, VALID)
    tick(session, settings)
    broken = "".join(
        f"  - url: https://x{i}.example.org/rss\n    interval: 5s\n" for i in range(3000)
    )
    path = write_feeds(settings, VALID + broken)
    configure_logging(level="INFO", fmt="json")
    capsys.readouterr()
    fresh_process()
    tick(session, settings)
    problems = feeds_file_problems(session)
    assert len(problems) == feeds_config.MAX_PROBLEMS + 1
    assert problems[-1] == f"{path}: 2900 more broken entries not listed"
    errors = [line for line in json_lines(capsys.readouterr().err) if line["level"] == "error"]
    assert len(errors) == feeds_config.MAX_PROBLEMS + 1
    assert len(feeds_by_url(session)) == 2  # the good entries applied, none of the broken


def test_it_shows_no_credentials_of_a_broken_entry(
    session: Session, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    write_feeds(settings, VALID)
    tick(session, settings)
    configure_logging(level="INFO", fmt="json")
    secret_url = "https://reader:hunter2@a.example.org/rss?token=s3cr3t"
    write_feeds(settings, VALID + f"  - url: {secret_url}\n  - url: {secret_url}\n")
    fresh_process()
    tick(session, settings)
    scrubbed = "duplicate feed https://***@a.example.org/rss?token=***"
    (problem,) = feeds_file_problems(session)  # stored (and logged) without them
    assert scrubbed in problem
    with TestClient(create_app(settings)) as client:
        page, api = client.get("/feeds").text, client.get("/api/feeds").text
    listed = run_monitor(cli_env(settings), "feeds", "list").stderr
    assert scrubbed in api and scrubbed in listed and "duplicate feed" in page
    for shown in (page, api, listed, capsys.readouterr().err):
        assert "hunter2" not in shown and "s3cr3t" not in shown


# -- 17, 23. `monitor feeds list`: escapes, --wide, --json ----------------------------------

TOKEN_URL = "https://reader:hunter2@paywall.example.org/rss?api_key=s3cr3t&lang=en"
LONG_ERROR = "HTTP 503 from the origin; " + "x" * 80 + " (end of error)"


def _seed_list(session: Session) -> None:
    session.add_all(
        [
            Feed(
                url="https://evil.example.org/rss",
                title="\x1b]0;owned\x07\x1b[2J\x1b[31mEvil\u202etxt.exe\r\x9b1m",
                last_polled_at=NOW,
                error_streak=2,
                last_error="bad \x1b[5mthing\x1b[0m",
            ),
            Feed(
                url=TOKEN_URL,
                name="Paywall",
                last_polled_at=NOW,
                error_streak=1,
                last_error=LONG_ERROR,
            ),
        ]
    )
    session.commit()


def test_it_strips_terminal_escapes_from_feeds_list(session: Session, settings: Settings) -> None:
    _seed_list(session)
    for flags in ((), ("--wide",), ("--json",)):
        result = run_monitor(cli_env(settings), "feeds", "list", *flags)
        assert result.exit_code == 0
        controls = [ch for ch in result.stdout if ord(ch) < 32 and ch != "\n"]
        controls += [ch for ch in result.stdout if 0x7F <= ord(ch) <= 0x9F or ch == "\u202e"]
        assert controls == [], flags
    plain = run_monitor(cli_env(settings), "feeds", "list", "--wide").stdout
    # The feed's own text stays; an escape sequence (here OSC 0, 'retitle the terminal') goes
    # whole, as monitor.cli.terminal.printable removes it for every command.
    assert "Eviltxt.exe" in plain and "0;owned" not in plain


def test_it_prints_whole_urls_and_errors_with_wide_and_scrubs_credentials(
    session: Session, settings: Settings
) -> None:
    _seed_list(session)
    cut = run_monitor(cli_env(settings), "feeds", "list").stdout
    assert LONG_ERROR not in cut
    wide = run_monitor(cli_env(settings), "feeds", "list", "--wide").stdout
    scrubbed = "https://***@paywall.example.org/rss?api_key=***&lang=en"
    assert scrubbed in wide and f"error: {LONG_ERROR}" in wide
    assert "hunter2" not in wide + cut and "s3cr3t" not in wide + cut
    header, *rows = wide.splitlines()
    assert len(rows) == 2 and header.index("URL") == rows[0].index("https://")


def test_it_prints_one_json_object_per_feed_without_credentials(
    session: Session, settings: Settings
) -> None:
    _seed_list(session)
    result = run_monitor(cli_env(settings), "feeds", "list", "--json")
    assert result.exit_code == 0
    rows = {row["url"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert "hunter2" not in result.stdout and "s3cr3t" not in result.stdout
    paywall = rows["https://***@paywall.example.org/rss?api_key=***&lang=en"]
    assert paywall["name"] == "Paywall" and paywall["last_error"] == LONG_ERROR
    assert paywall["error_streak"] == 1 and paywall["status"] == f"error: {LONG_ERROR}"
    evil = rows["https://evil.example.org/rss"]
    assert evil["title"].startswith("\x1b]0;owned")  # escaped as \u001b in the JSON text
    assert evil["last_polled_at"] == NOW.isoformat()


# -- 20. /metrics in the scaled-out recipe ------------------------------------------------


def _worker_like_process(env: dict[str, str], cwd: Path, *, host: str, polls: int) -> None:
    """A process started as `celery -A workers worker` starts (it imports the workers
    package), on host *host*, that counts *polls* polls; PROMETHEUS_MULTIPROC_DIR unset."""
    script = (
        "import socket\n"
        f"socket.gethostname = lambda: {host!r}\n"
        "import workers\n"
        "from monitor.metrics import POLLS\n"
        f"POLLS.labels(outcome='new').inc({polls})\n"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=cwd,
        check=True,
        timeout=120,
        capture_output=True,
    )


@pytest.mark.parametrize("shared_folder", [False, True], ids=["var-dir", "metrics-dir"])
def test_it_shows_the_workers_counters_on_the_dashboard_without_setup(
    tmp_path: Path, shared_folder: bool
) -> None:
    extra = {"metrics_dir": tmp_path / "shared-volume"} if shared_folder else {}
    settings = make_settings(tmp_path, **extra)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "PROMETHEUS_"))}
    env.update(cli_env(settings), PYTHONPATH=str(ROOT))
    if shared_folder:
        env["MONITOR_METRICS_DIR"] = str(settings.metrics_path)
    # Two containers on one volume: each numbers its processes from 1, so only their host
    # names keep their files apart.
    _worker_like_process(env, tmp_path, host="poll-1", polls=2)
    _worker_like_process(env, tmp_path, host="poll-2", polls=3)

    response = TestClient(create_app(settings)).get("/metrics")
    assert response.status_code == 200
    assert 'monitor_polls_total{outcome="new"} 5.0' in response.text.splitlines()


# -- 22. unset alert secrets --------------------------------------------------------------

WEBHOOK_VARIABLE = "SLACK_WEBHOOK_OPS_ADVERSARIAL"
SECRET_TOKEN = "xoxb-0000-super-secret-token"
SECRET_SMTP = "smtp://desk:pa55word@smtp.example.org:587"
SECRET_HOOK = "https://hooks.slack.com/services/T0/B0/very-secret"

WATCHLIST = """\
query: naira
alerts:
  - slack: "#fx-desk"
  - slack: {webhook: env:SLACK_WEBHOOK_OPS_ADVERSARIAL}
    digest: hourly
  - email: [desk@example.org]
  - console: true
"""


@pytest.fixture
def watchlist_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "watchlists"
    directory.mkdir()
    (directory / "naira.yaml").write_text(WATCHLIST, encoding="utf-8")
    (directory / "plain.yaml").write_text("query: cedi\n", encoding="utf-8")
    for name in ("MONITOR_SLACK_BOT_TOKEN", "MONITOR_SMTP_URL", "MONITOR_DEFAULT_ALERTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(WEBHOOK_VARIABLE, raising=False)
    return directory


def validate(directory: Path, *flags: str, **env: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["watchlists", "validate", *flags, str(directory)],
        env={"MONITOR_WATCHLISTS": str(directory), **env},
        catch_exceptions=False,
    )


def test_it_reports_each_destination_without_its_secret_at_validation(
    watchlist_dir: Path,
) -> None:
    path = watchlist_dir / "naira.yaml"
    result = validate(watchlist_dir, MONITOR_DEFAULT_ALERTS="slack:#news")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}:3:5: alerts: cannot send to slack:#fx-desk: MONITOR_SLACK_BOT_TOKEN is not set",
        f"{path}:4:5: alerts: cannot send to webhook:{WEBHOOK_VARIABLE}: environment variable "
        f"{WEBHOOK_VARIABLE} (the webhook URL) is not set",
        f"{path}:6:5: alerts: cannot send to email:desk@example.org: MONITOR_SMTP_URL is not set",
        # plain.yaml has no alerts: of its own, so it relies on the default destinations.
        "MONITOR_DEFAULT_ALERTS: cannot send to slack:#news: MONITOR_SLACK_BOT_TOKEN is not set",
    ]
    assert "4 problem(s)" in result.stderr


def test_it_names_the_missing_variable_and_never_a_secret(watchlist_dir: Path) -> None:
    # The token is set (and an empty one counts as unset); the webhook variable is not.
    result = validate(
        watchlist_dir, MONITOR_SLACK_BOT_TOKEN=SECRET_TOKEN, MONITOR_SMTP_URL=SECRET_SMTP
    )
    assert result.exit_code == 1
    (line,) = result.stdout.splitlines()
    assert f"webhook:{WEBHOOK_VARIABLE}" in line
    assert SECRET_TOKEN not in result.output and "pa55word" not in result.output

    blank = validate(watchlist_dir, MONITOR_SLACK_BOT_TOKEN="  ", MONITOR_SMTP_URL=SECRET_SMTP)
    assert "MONITOR_SLACK_BOT_TOKEN is not set" in blank.stdout

    ready = validate(
        watchlist_dir,
        MONITOR_SLACK_BOT_TOKEN=SECRET_TOKEN,
        MONITOR_SMTP_URL=SECRET_SMTP,
        **{WEBHOOK_VARIABLE: SECRET_HOOK},
    )
    assert ready.exit_code == 0 and ready.stdout == ""
    assert validate(watchlist_dir, "--files-only").exit_code == 0


def test_it_warns_once_per_unsendable_destination_as_an_alerts_worker_starts(
    watchlist_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The module (the package's `app` is the Celery app it makes).
    worker_app = importlib.import_module("workers.app")

    (watchlist_dir / "naira-copy.yaml").write_text(WATCHLIST, encoding="utf-8")
    monkeypatch.setenv("MONITOR_WATCHLISTS", str(watchlist_dir))
    monkeypatch.setenv("MONITOR_SMTP_URL", SECRET_SMTP)
    monkeypatch.setenv("MONITOR_DEFAULT_ALERTS", "slack:#fx-desk")
    get_settings.cache_clear()
    configure_logging(level="INFO", fmt="json")
    capsys.readouterr()

    worker_app._warn_about_unsendable_destinations()

    err = capsys.readouterr().err
    warnings = [line for line in json_lines(err) if line["level"] == "warning"]
    assert [(w["event"], w["destination"], w["error"], w["watchlist"]) for w in warnings] == [
        (
            "alert destination cannot send",
            "slack:#fx-desk",
            "MONITOR_SLACK_BOT_TOKEN is not set",
            ["naira", "naira-copy", "plain"],
        ),
        (
            "alert destination cannot send",
            f"webhook:{WEBHOOK_VARIABLE}",
            f"environment variable {WEBHOOK_VARIABLE} (the webhook URL) is not set",
            ["naira", "naira-copy"],
        ),
    ]
    assert "pa55word" not in err


def test_it_warns_of_unsendable_destinations_when_run_once_starts(
    watchlist_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cron user's `monitor run --once` is a start too: it says which destination cannot
    # send, on stderr, before the first hit would fail there.
    settings = make_settings(tmp_path, watchlists=watchlist_dir)
    (tmp_path / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    env = cli_env(settings, MONITOR_SMTP_URL=SECRET_SMTP, MONITOR_DEFAULT_ALERTS="slack:#fx-desk")
    result = CliRunner().invoke(cli, ["run", "--once"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "cannot send to" in line]
    assert warnings == [
        "monitor: warning: cannot send to slack:#fx-desk: MONITOR_SLACK_BOT_TOKEN is not set "
        "(watchlists: naira, plain)",
        f"monitor: warning: cannot send to webhook:{WEBHOOK_VARIABLE}: environment variable "
        f"{WEBHOOK_VARIABLE} (the webhook URL) is not set (watchlists: naira)",
    ]
    assert "cannot send" not in result.stdout and "pa55word" not in result.output
