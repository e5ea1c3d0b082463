"""Shared fixtures: databases (SQLite and PostgreSQL), settings, the shared data folder.

Tests that need a server (PostgreSQL, Redis, Chromium) skip with the reason where it cannot be
reached, as on a laptop without them. Under CI (``CI=true``) or with
``MONITOR_REQUIRE_SERVICES=1`` such a skip is turned into a failure: CI must run everything.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.config import Settings, get_settings, load_settings
from monitor.feeds import fetcher
from monitor.models import Base

os.environ.setdefault("MONITOR_ALLOW_PRIVATE_FEEDS", "1")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
POSTGRES_URL = os.environ.get(
    "MONITOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MONITOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def services_required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("MONITOR_REQUIRE_SERVICES") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip (on a laptop) or fail (in CI) when a real component is missing."""
    if condition:
        return
    if services_required():
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or a skip naming what is missing."""
    path = SHARED_DATA.joinpath(*parts)
    need(path.exists(), f"shared test data not found at ../shared/data/{'/'.join(parts)}")
    return path


# -- PostgreSQL -------------------------------------------------------------------------


def _pg_admin_url() -> str:
    return POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)


_pg_state: dict[str, Any] = {}


def _postgres_database() -> str:
    """Create one throw-away database for the whole run; return its URL."""
    if "url" in _pg_state:
        return str(_pg_state["url"])
    if "error" in _pg_state:
        need(False, _pg_state["error"])
    name = f"monitor_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        admin = create_engine(
            _pg_admin_url(), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:
        _pg_state["error"] = f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}"
        need(False, _pg_state["error"])
    base = POSTGRES_URL.rsplit("/", 1)[0]
    _pg_state["url"] = f"{base}/{name}"
    _pg_state["name"] = name
    return str(_pg_state["url"])


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "Skipped"
        _skipped.append(f"{report.nodeid}: {reason.removeprefix('Skipped: ')}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # -ra names the line of need() that skipped; this names each test that did not run.
    if _skipped:
        terminalreporter.write_sep("-", f"{len(_skipped)} test(s) skipped: what was missing")
        for line in _skipped:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # In CI nothing may be skipped: a skip there means a component the suite promises to test
    # against (PostgreSQL, Redis, Chromium, the shared data) was missing.
    if services_required() and _skipped:
        print(f"\nCI: {len(_skipped)} test(s) skipped, which CI does not allow:")
        for nodeid in _skipped:
            print(f"  {nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    name = _pg_state.get("name")
    if not name:
        return
    storage.dispose_engines()
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# -- settings and databases -------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's .env or ./var by accident."""
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A test that calls configure_logging must not leave its handler behind.

    The handler holds the stderr of the test that made it; pytest closes that stream, and
    a later test's log line would then go to logging's error report in whatever captures
    stderr next (a CliRunner's output, for instance).
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def _database_connections_closed() -> Iterator[None]:
    """No test leaves its database connections open for the rest of the run.

    The engines are cached per URL for the life of a process; every test's SQLite file is a
    URL of its own, so its pooled connections (three descriptors each with WAL) piled up until,
    past 1,300 tests, the process held over 1,024 descriptors and ``select()`` in a test
    server refused them ('filedescriptor out of range in select()').
    """
    yield
    storage.dispose_engines()


@pytest.fixture(autouse=True)
def _fetch_pools_closed() -> Iterator[None]:
    """No test leaves kept-alive feed connections in the fetcher's process-wide pool.

    Each test's feed server stops at its end, but a connection the pool kept to it stays open
    (and so does the server's handler thread, waiting on the other end) until that pool is
    used again; a pool whose timeouts no later test shares is never used again, and its
    sockets were reported unclosed (ResourceWarning) at the end of the run.
    """
    yield
    fetcher.close_pools()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path}/monitor.db",
        "broker_url": f"sqla+sqlite:///{tmp_path}/broker.db",
        "var_dir": tmp_path / "var",
        "watchlists": tmp_path / "watchlists",
        "feeds": tmp_path / "feeds.yaml",
        "allow_private_feeds": True,
    }
    values.update(overrides)
    return load_settings(**values)


_migrated: set[str] = set()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated database, on each engine in turn."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/monitor.db"
        storage.upgrade(load_settings(database_url=url))
        yield url
        return
    url = _postgres_database()
    settings = load_settings(database_url=url)
    if url not in _migrated:
        storage.upgrade(settings)
        _migrated.add(url)
    engine = storage.get_engine(settings)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(tmp_path, database_url=database_url)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings on a migrated SQLite database only, for tests that are not about storage."""
    settings = make_settings(tmp_path)
    storage.upgrade(settings)
    return settings


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    with storage.sessionmaker_for(settings)() as session:
        yield session
