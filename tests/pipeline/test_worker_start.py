"""What a worker does as it starts: a pool process that consumes the ``match`` queue loads the
story index, so the first article after a start does not wait for it; a failure to load it is
one log line and never a failed start. Real ``celery worker`` processes on the SQLite broker."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from monitor.models import Story
from tests.pipeline.conftest import Proc, base_env, celery, monitor

STORIES = 3


def _env(tmp_path: Path) -> dict[str, str]:
    return base_env(
        MONITOR_DATABASE_URL=f"sqlite:///{tmp_path}/monitor.db",
        MONITOR_BROKER_URL=f"sqla+sqlite:///{tmp_path}/broker.db",
        MONITOR_VAR_DIR=tmp_path / "var",
        MONITOR_LOG_FORMAT="json",
    )


def _worker(queues: str, name: str, concurrency: int) -> list[str]:
    return celery(
        "worker", "-Q", queues, "-n", f"{name}@%h", "-c", str(concurrency),
        "--without-gossip", "--without-mingle",
    )  # fmt: skip


def _events(proc: Proc, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in proc.output().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


def _wait_for_events(proc: Proc, event: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = _events(proc, event)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{proc.name}: {count} x {event!r} expected:\n{proc.output()[-3000:]}")


@pytest.mark.slow
def test_it_loads_the_story_index_in_every_match_process_as_it_starts(
    processes: Callable[..., Proc], tmp_path: Path
) -> None:
    env = _env(tmp_path)
    subprocess.run(monitor("db", "upgrade"), env=env, cwd=tmp_path, check=True, capture_output=True)
    engine = create_engine(f"sqlite:///{tmp_path}/monitor.db")
    with Session(engine) as session:
        now = datetime.now(UTC)
        session.add_all(Story(first_seen_at=now, title=f"Story {n}") for n in range(STORIES))
        session.commit()
    engine.dispose()

    poller = processes("poll-worker", _worker("poll,alerts", "poll", 1), env=env)
    poller.wait_for("ready.", timeout=90)
    matcher = processes("match-worker", _worker("match", "match", 2), env=env)

    warmed = _wait_for_events(matcher, "story index warm", 2)
    assert [event["stories"] for event in warmed] == [STORIES, STORIES]
    # A worker that never matches does not hold the index in memory.
    assert "story index" not in poller.output()


@pytest.mark.slow
def test_it_starts_a_worker_whose_story_index_cannot_load(
    processes: Callable[..., Proc], tmp_path: Path
) -> None:
    # No migration: the stories table does not exist yet.
    env = _env(tmp_path)
    worker = processes("worker", _worker("match", "match", 1), env=env)

    failures = _wait_for_events(worker, "story index not warmed", 1)
    worker.wait_for("ready.", timeout=90)

    assert worker.popen is not None and worker.popen.poll() is None
    assert len(failures) == 1
    assert failures[0]["level"] == "warning"
    assert "stories" in failures[0]["error"]
    assert "Traceback" not in worker.output()
