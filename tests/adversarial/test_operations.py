"""Operations, as an attacker and a new user tried them (issue #19): ``monitor feeds list``.

Each test drives the real parts: the ``monitor`` command on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.cli.main import cli
from monitor.config import Settings
from monitor.feeds import config as feeds_config
from monitor.models import Feed
from monitor.pipeline import schedule_due_feeds

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
    assert "]0;owned" in plain and "Eviltxt.exe" in plain  # the text stays, harmless


def test_it_prints_whole_urls_and_errors_with_wide_and_scrubs_credentials(
    session: Session, settings: Settings
) -> None:
    _seed_list(session)
    cut = run_monitor(cli_env(settings), "feeds", "list").stdout
    assert LONG_ERROR not in cut
    wide = run_monitor(cli_env(settings), "feeds", "list", "--wide").stdout
    scrubbed = "https://reader:***@paywall.example.org/rss?api_key=***&lang=en"
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
    paywall = rows["https://reader:***@paywall.example.org/rss?api_key=***&lang=en"]
    assert paywall["name"] == "Paywall" and paywall["last_error"] == LONG_ERROR
    assert paywall["error_streak"] == 1 and paywall["status"] == f"error: {LONG_ERROR}"
    evil = rows["https://evil.example.org/rss"]
    assert evil["title"].startswith("\x1b]0;owned")  # escaped as \u001b in the JSON text
    assert evil["last_polled_at"] == NOW.isoformat()
