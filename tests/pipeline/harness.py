"""A whole monitor deployment for one test or benchmark: database, broker, config files,
stand-ins, and the real worker and beat processes.

``Stack.redis(...)`` is the scaled-out mode (PostgreSQL database of its own, a Redis database
number of its own, flushed first); ``Stack.embedded(...)`` is ``monitor run`` on SQLite with the
SQLite broker. Both write a feeds.yaml pointing at the loopback :class:`FeedServer` and a
watchlist that alerts the loopback Slack stand-in.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine

from monitor.models import Article, Delivery, Hit
from tests.conftest import POSTGRES_URL, REDIS_URL, ROOT
from tests.pipeline.servers import FeedServer, SlackStandIn

TOKEN = "xoxb-standin-token"
QUERY = '"turbine failure" OR blackout'


def redis_url(db: int) -> str:
    return REDIS_URL.rsplit("/", 1)[0] + f"/{db}"


def redis_available(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception:
        return False
    return True


def postgres_available() -> bool:
    try:
        engine = create_engine(
            POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
            connect_args={"connect_timeout": 3},
        )
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:
        return False
    return True


def _admin() -> Engine:
    return create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )


class Proc:
    """A child process in its own process group, output to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name, self.argv, self.env, self.cwd = name, argv, env, cwd
        self.log = cwd / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        with self.log.open("ab") as handle:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_for(self, needle: str, timeout: float = 60, *, after: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.output()[after:]:
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.name}: no {needle!r} in:\n{self.output()[-4000:]}")

    def kill9(self) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()


class Stack:
    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str,
        broker_url: str,
        feeds: int = 1,
        env: dict[str, Any] | None = None,
    ) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.broker_url = broker_url
        self.feed_server = FeedServer()
        self.slack = SlackStandIn()
        self.feed_names = [f"wire{n}" for n in range(feeds)]
        self.processes: list[Proc] = []
        self._pg_name: str | None = None
        self._write_config()
        self.env = self._env(env or {})
        self.engine = create_engine(
            database_url.replace("postgresql://", "postgresql+psycopg://", 1)
        )

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def redis(cls, workdir: Path, *, redis_db: int = 13, **kwargs: Any) -> Stack:
        import redis

        broker = kwargs.pop("broker_url", None) or redis_url(redis_db)
        client = redis.Redis.from_url(broker)
        client.flushdb()
        client.close()
        name = f"monitor_pipe_{secrets.token_hex(4)}"
        admin = _admin()
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
        stack = cls(workdir, database_url=url, broker_url=broker, **kwargs)
        stack._pg_name = name
        return stack

    @classmethod
    def embedded(cls, workdir: Path, **kwargs: Any) -> Stack:
        return cls(
            workdir,
            database_url=f"sqlite:///{workdir}/monitor.db",
            broker_url=f"sqla+sqlite:///{workdir}/broker.db",
            **kwargs,
        )

    def _write_config(self) -> None:
        # An item may be published before its feed's first poll has finished: it is alerted,
        # as these tests are about delivery, not about a new feed's backlog.
        feeds = [
            {
                "url": self.feed_server.url(name),
                "name": name,
                "interval": 10,
                "alert_first_poll": True,
            }
            for name in self.feed_names
        ]
        (self.workdir / "feeds.yaml").write_text(yaml.safe_dump({"feeds": feeds}))
        watchlists = self.workdir / "watchlists"
        watchlists.mkdir(exist_ok=True)
        (watchlists / "grid.yaml").write_text(
            yaml.safe_dump(
                {"id": "grid", "name": "Power grid", "query": QUERY, "alerts": [{"slack": "#grid"}]}
            )
        )

    def _env(self, extra: dict[str, Any]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update(
            {
                "PYTHONPATH": str(ROOT),
                "MONITOR_DATABASE_URL": self.database_url,
                "MONITOR_BROKER_URL": self.broker_url,
                "MONITOR_FEEDS": str(self.workdir / "feeds.yaml"),
                "MONITOR_WATCHLISTS": str(self.workdir / "watchlists"),
                "MONITOR_VAR_DIR": str(self.workdir / "var"),
                "MONITOR_ALLOW_PRIVATE_FEEDS": "1",
                "MONITOR_POLL_MIN_INTERVAL": "10",
                "MONITOR_SLACK_BOT_TOKEN": TOKEN,
                "MONITOR_SLACK_BASE_URL": self.slack.api_url,
                "MONITOR_BEAT_SCHEDULE_SECONDS": "1",
                "MONITOR_BEAT_SWEEP_SECONDS": "2",
                "MONITOR_SWEEP_GRACE_SECONDS": "5",
                "MONITOR_BROKER_VISIBILITY_TIMEOUT": "30",
                "MONITOR_LOG_LEVEL": "INFO",
            }
        )
        env.update({k: str(v) for k, v in extra.items()})
        return env

    # -- processes ------------------------------------------------------------------------

    def upgrade(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "monitor", "db", "upgrade"],
            env=self.env,
            cwd=self.workdir,
            check=True,
            capture_output=True,
        )

    def start(self, name: str, argv: list[str], **env: Any) -> Proc:
        merged = dict(self.env)
        merged.update({k: str(v) for k, v in env.items()})
        proc = Proc(name, argv, merged, self.workdir)
        self.processes.append(proc)
        return proc

    def worker(
        self, name: str = "w1", *, concurrency: int = 2, queues: str = "poll,match,alerts"
    ) -> Proc:
        return self.start(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers",
                "worker",
                "-Q",
                queues,
                "-n",
                f"{name}@%h",
                "-c",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
        )

    def beat(self, name: str = "beat") -> Proc:
        return self.start(
            name, [sys.executable, "-m", "celery", "-A", "workers", "beat", "--loglevel", "INFO"]
        )

    def monitor_run(self, *, concurrency: int = 2) -> Proc:
        argv = [sys.executable, "-m", "monitor", "run", "--concurrency", str(concurrency)]
        return self.start("run", [*argv, "--no-dashboard"])

    def close(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
            if proc.alive():
                proc.kill9()
        self.feed_server.close()
        self.slack.close()
        self.engine.dispose()
        if self._pg_name:
            from monitor import db as storage

            storage.dispose_engines()
            admin = _admin()
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)'))
            admin.dispose()

    # -- what happened --------------------------------------------------------------------

    def scalar(self, statement: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(statement).scalar()

    def counts(self) -> dict[str, int]:
        return {
            "articles": self.scalar(select(func.count(Article.id))),
            "unmatched": self.scalar(
                select(func.count(Article.id)).where(Article.matched_at.is_(None))
            ),
            "hits": self.scalar(select(func.count(Hit.id))),
            "sent": self.scalar(select(func.count(Delivery.id)).where(Delivery.status == "sent")),
            "deliveries": self.scalar(select(func.count(Delivery.id))),
        }

    def wait_until(
        self, condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.1
    ) -> float:
        """Wait for *condition*; return the seconds it took, or fail with the logs' tails."""
        start = time.monotonic()
        last_error: Exception | None = None
        while time.monotonic() - start < timeout:
            try:
                if condition():
                    return time.monotonic() - start
            except Exception as exc:  # the schema may not exist yet, a connection may drop
                last_error = exc
            time.sleep(poll)
        logs = "\n".join(f"--- {p.name}\n{p.output()[-3000:]}" for p in self.processes)
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what} (last error: {last_error!r}); "
            f"{self.counts()}\n{logs}"
        )

    def poll_soon(self) -> None:
        """Make every feed due now, as if its interval had passed (feeds.yaml allows no less
        than 10 s, which would make each round of a fault test wait that long)."""
        from datetime import UTC, datetime, timedelta

        past = (datetime.now(UTC) - timedelta(seconds=1)).replace(tzinfo=None)
        with self.engine.begin() as connection:
            connection.execute(text("UPDATE feeds SET next_poll_at = :past"), {"past": past})

    def posts_for(self, marker: str) -> int:
        return sum(marker in text for text in self.slack.texts())
