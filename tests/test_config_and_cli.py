"""Configuration errors and the CLI's manners: one line on stderr, the right exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import load_settings, redact_url
from monitor.errors import ConfigError


def run_monitor(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("database_url", "mysql://x/y", "MONITOR_DATABASE_URL: unsupported scheme 'mysql'"),
        ("database_url", "not a url", "MONITOR_DATABASE_URL: expected a URL"),
        ("database_url", "postgresql://host", "MONITOR_DATABASE_URL: a PostgreSQL URL must name"),
        ("broker_url", "kafka://x", "MONITOR_BROKER_URL: unsupported scheme 'kafka'"),
        ("poll_interval", "often", "MONITOR_POLL_INTERVAL: "),
        ("log_level", "LOUD", "MONITOR_LOG_LEVEL: expected DEBUG"),
    ],
    ids=["bad-db-scheme", "db-not-a-url", "pg-without-db", "bad-broker", "not-int", "bad-level"],
)
def test_it_names_the_variable_in_one_sentence(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**{variable: value})
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)


def test_it_reads_a_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("MONITOR_POLL_INTERVAL=120\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().poll_interval == 120


def test_it_redacts_passwords() -> None:
    assert redact_url("postgresql://u:s3cret@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact_url("sqlite:///var/x.db") == "sqlite:///var/x.db"


def test_it_lists_the_commands_in_help() -> None:
    result = run_monitor("--help")
    assert result.returncode == 0
    for command in ("db", "run", "feeds", "watchlists", "alerts", "dashboard"):
        if f"monitor.cli.{command}" in sys.modules or command == "db":
            assert command in result.stdout


def test_it_gives_one_line_and_exit_2_for_a_bad_scheme(tmp_path: Path) -> None:
    result = run_monitor("db", "upgrade", env={"MONITOR_DATABASE_URL": "mysql://x/y"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "MONITOR_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_it_gives_one_line_and_exit_2_for_an_unreachable_server(tmp_path: Path) -> None:
    url = "postgresql://monitor:hunter2@127.0.0.1:1/monitor"
    result = run_monitor("db", "upgrade", env={"MONITOR_DATABASE_URL": url}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("monitor: MONITOR_DATABASE_URL: cannot connect to")
    assert "hunter2" not in result.stderr


def test_it_upgrades_a_fresh_sqlite_database(tmp_path: Path) -> None:
    result = run_monitor("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "monitor.db").exists()
    again = run_monitor("db", "current", cwd=tmp_path)
    assert again.stdout.strip() == "0001"


def test_it_runs_as_a_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "monitor"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert "monitor" in result.stdout
