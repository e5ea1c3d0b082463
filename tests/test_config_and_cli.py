"""Configuration errors and the CLI's manners: one line on stderr, the right exit code."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner

import monitor
from monitor.cli.main import cli
from monitor.config import load_settings
from monitor.errors import ConfigError
from monitor.redaction import redact_url


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
        ("smtp_url", "ftp://desk:hunter2@mail", "MONITOR_SMTP_URL: unsupported scheme 'ftp'"),
        ("smtp_url", "smtp://desk:hunter2@:587", "MONITOR_SMTP_URL: names no server"),
        ("smtp_url", "smtp://desk:hunter2@mail:x", "MONITOR_SMTP_URL: the port is not a number"),
        ("default_alerts", "pager:duty", "MONITOR_DEFAULT_ALERTS: unknown destination 'pager"),
        ("default_alerts", "slack:#a b", "MONITOR_DEFAULT_ALERTS: slack: '#a b' is not a Slack"),
        ("default_alerts", "email:desk", "MONITOR_DEFAULT_ALERTS: email: 'desk' is not an email"),
        ("beat_sweep_seconds", "often", "MONITOR_BEAT_SWEEP_SECONDS: "),
        ("beat_lease_ttl", "1", "MONITOR_BEAT_LEASE_TTL: Input should be greater than or equal"),
        ("sweep_grace_seconds", "-5", "MONITOR_SWEEP_GRACE_SECONDS: Input should be greater"),
        ("broker_visibility_timeout", "6m", "MONITOR_BROKER_VISIBILITY_TIMEOUT: "),
    ],
    ids=[
        "bad-db-scheme",
        "db-not-a-url",
        "pg-without-db",
        "bad-broker",
        "not-int",
        "bad-level",
        "smtp-scheme",
        "smtp-no-host",
        "smtp-port",
        "default-alerts-kind",
        "default-alerts-channel",
        "default-alerts-address",
        "beat-interval",
        "lease-too-short",
        "negative-grace",
        "visibility-timeout",
    ],
)
def test_it_names_the_variable_in_one_sentence(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**{variable: value})
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)
    assert "hunter2" not in str(info.value)


def test_it_has_the_documented_defaults() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///var/monitor.db"
    assert settings.broker_url == "sqla+sqlite:///var/broker.db"  # embedded: no server
    assert settings.watchlists == Path("watchlists")
    assert settings.feeds == Path("feeds.yaml")
    assert settings.smtp_url is None and settings.default_alerts == ""


def test_it_stops_at_start_up_on_a_bad_smtp_url_without_showing_it(tmp_path: Path) -> None:
    env = {"MONITOR_SMTP_URL": "smtp://desk:hunter2@"}
    result = run_monitor("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr
        == "monitor: MONITOR_SMTP_URL: names no server, e.g. smtp://user:pass@host:587\n"
    )
    assert not (tmp_path / "var").exists()


def test_it_reads_a_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("MONITOR_POLL_INTERVAL=120\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().poll_interval == 120


def test_it_reads_the_worker_settings_from_a_dotenv_file_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # These were once read with os.environ at import time, so .env did not set them.
    (tmp_path / ".env").write_text(
        "MONITOR_BEAT_SWEEP_SECONDS=45\nMONITOR_BEAT_LEASE_TTL=12\n"
        "MONITOR_SWEEP_GRACE_SECONDS=7\nMONITOR_BROKER_VISIBILITY_TIMEOUT=400\n"
    )
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.beat_sweep_seconds == 45
    assert settings.beat_lease_ttl == 12
    assert settings.sweep_grace_seconds == 7
    assert settings.broker_visibility_timeout == 400


def test_it_stops_a_worker_with_a_bad_beat_setting_in_one_line(tmp_path: Path) -> None:
    result = run_monitor(
        "db", "upgrade", env={"MONITOR_BEAT_SCHEDULE_SECONDS": "soon"}, cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.startswith("monitor: MONITOR_BEAT_SCHEDULE_SECONDS: ")
    assert result.stderr.count("\n") == 1


def test_it_loads_the_alert_spec_without_the_outbox() -> None:
    # The settings validate MONITOR_DEFAULT_ALERTS and the watchlist schema is built with
    # monitor.destinations: neither may pull in the database layer or the Slack SDK.
    code = (
        "import sys, monitor.config, monitor.destinations\n"
        "print(sorted(m for m in ('sqlalchemy', 'slack_sdk', 'monitor.models', 'monitor.alerts') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_it_redacts_passwords() -> None:
    # The user name goes too: it is the secret when a token is used as one (issue #19).
    assert redact_url("postgresql://u:s3cret@h:5432/d") == "postgresql://***@h:5432/d"
    assert redact_url("sqlite:///var/x.db") == "sqlite:///var/x.db"


def test_it_lists_the_commands_in_help() -> None:
    result = run_monitor("--help")
    assert result.returncode == 0
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line}
    assert {"db", "run", "feeds", "watchlists", "alerts", "dashboard"} <= listed


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_it_has_help_for_every_command_even_with_a_broken_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONITOR_DATABASE_URL", "mysql://x/y")
    paths = list(_commands(cli))
    assert len(paths) > 10
    for path in paths:
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith(f"Usage: cli {' '.join(path)}"), path


def test_it_keeps_celery_out_of_the_library() -> None:
    importers = []
    for path in Path(monitor.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(name.split(".")[0] in {"celery", "kombu"} for name in names):
                importers.append(f"{path.name}:{node.lineno}")
    assert importers == []


def test_it_runs_exactly_the_readme_test_command_in_ci() -> None:
    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in quickstart.splitlines()[1:] if line]
    assert commands == ["make run", "make test"]  # exactly two commands
    ci = (root / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == commands[1]
    assert "export CI=true" in ci  # so a skipped test fails the run


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
    # The newest migration (0001 until later revisions were added).
    head = ScriptDirectory(str(Path(monitor.__file__).parent / "migrations")).get_current_head()
    assert again.stdout.strip() == head


def test_it_runs_as_a_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "monitor"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert "monitor" in result.stdout


@pytest.mark.parametrize(
    ("ci", "code", "shown"),
    [
        (
            "",
            0,
            "test_needs_a_server.py::test_it_talks_to_postgres: PostgreSQL not reachable at here",
        ),
        ("true", 1, "test_it_talks_to_postgres - Failed: required in CI: PostgreSQL not reachable"),
    ],
    ids=["laptop-skips-with-the-reason", "ci-fails"],
)
def test_it_skips_a_missing_server_by_name_except_in_ci(
    tmp_path: Path, ci: str, code: int, shown: str
) -> None:
    root = Path(__file__).parent.parent
    (tmp_path / "test_needs_a_server.py").write_text(
        "from tests.conftest import need\n\n\ndef test_it_talks_to_postgres():\n"
        "    need(False, 'PostgreSQL not reachable at here')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "MONITOR_REQUIRE_SERVICES"}}
    env |= {"CI": ci, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider"),
            *("-c", str(root / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == code, result.stdout
    assert shown in result.stdout


def test_it_documents_what_a_newcomer_needs_in_the_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    before_quickstart = readme.split("## Quickstart")[0]
    assert "```" in before_quickstart and "─►" in before_quickstart  # the data-flow diagram
    headings = [line for line in readme.splitlines() if line.startswith("## ")]
    for section in (
        "## Quickstart",
        "## Writing watchlists",
        "## Feeds",
        "## Alerts: Slack and email",
        "## Scaling out on Redis and PostgreSQL",
        "## The dashboard",
        "## Troubleshooting",
        "## Why each dependency is there",
    ):
        assert section in headings


def test_it_keeps_the_tooling_strict_in_pyproject() -> None:
    root = Path(__file__).parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["requires-python"] == ">=3.11"
    assert project["project"]["scripts"]["monitor"] == "monitor.cli:main"
    assert {"module": "monitor.*", "strict": True} in project["tool"]["mypy"]["overrides"]
    pytest_options = project["tool"]["pytest"]["ini_options"]
    assert "--strict-markers" in pytest_options["addopts"]
    assert pytest_options["filterwarnings"][0] == "error"
    makefile = (root / "Makefile").read_text()
    lint = makefile.split("\nlint:")[1].split("\n\n")[0]
    assert all(step in lint for step in ("ruff check", "ruff format --check", "mypy"))
    assert "\ntest: setup lint pytest" in makefile
