"""Engines, sessions and migrations.

One engine per process and database URL; one session per task or request, opened by the
caller (a task, a CLI command, a web request) and passed down. SQLite gets WAL mode, a busy
timeout and foreign keys, so a worker, the beat and the dashboard can share one file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.errors import DatabaseUnavailable
from monitor.redaction import redact_url

__all__ = [
    "check_database",
    "get_engine",
    "open_transaction",
    "session_scope",
    "sessionmaker_for",
    "upgrade",
]

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def get_engine(settings: Settings) -> Engine:
    """The process's engine for ``settings.database_url`` (created on first use)."""
    url = settings.sqlalchemy_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if settings.is_sqlite:
                settings.ensure_dirs()
                engine = create_engine(url, connect_args={"timeout": 30})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(
                    url,
                    pool_pre_ping=True,
                    pool_size=5,
                    max_overflow=5,
                    connect_args={"connect_timeout": 5},
                )
            _engines[url] = engine
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (after a fork, and in tests)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def sessionmaker_for(settings: Settings) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(settings), expire_on_commit=False)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = sessionmaker_for(settings)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def open_transaction(session: Session) -> None:
    """Make sure the caller's transaction is open in the database itself, before a savepoint.

    Python's sqlite3 sends BEGIN only before an INSERT, UPDATE or DELETE. A SAVEPOINT sent
    first (an insert that may collide, in ``begin_nested``) starts a transaction of its own,
    and its RELEASE commits: that row would be stored for good while the rest of the caller's
    work could still be rolled back (a hit without its deliveries, an act without its
    effects)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    dbapi = connection.connection.dbapi_connection
    if dbapi is not None and not dbapi.in_transaction:
        connection.exec_driver_sql("BEGIN")


def check_database(settings: Settings) -> None:
    """Connect once, or raise :class:`DatabaseUnavailable` with one readable sentence."""
    engine = get_engine(settings)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(
            f"MONITOR_DATABASE_URL: cannot connect to {redact_url(settings.database_url)}: {reason}"
        ) from None


def _alembic_config(settings: Settings) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("monitor") / "migrations"))
    # '%' must be doubled for configparser; the URL may hold a percent-encoded password.
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the schema up to date (``monitor db upgrade``; ``monitor run`` calls it too)."""
    from alembic import command

    check_database(settings)
    command.upgrade(_alembic_config(settings), revision)


def current_revision(settings: Settings) -> str | None:
    from alembic.runtime.migration import MigrationContext

    check_database(settings)
    with get_engine(settings).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def table_names(settings: Settings) -> list[str]:
    return sorted(inspect(get_engine(settings)).get_table_names())
