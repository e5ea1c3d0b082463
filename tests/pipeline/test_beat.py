"""The beat schedule and the lease that keeps it to one scheduler (no broker needed)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Settings, get_settings
from tests.conftest import ROOT
from workers import beat


@pytest.mark.parametrize("entry", beat.SCHEDULE, ids=[e.name for e in beat.SCHEDULE])
def test_it_expires_each_tick_just_under_its_interval(entry: beat.Entry) -> None:
    assert entry.expires == max(beat.TICK_MIN_LIFE, 0.9 * entry.interval)
    if entry.interval > beat.TICK_MIN_LIFE / 0.9:
        assert entry.expires < entry.interval
    assert entry.env.startswith("MONITOR_BEAT_")


def test_it_lets_the_environment_override_an_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_BEAT_SWEEP_SECONDS", "60")
    schedule = beat.beat_schedule()
    assert schedule["sweep"]["schedule"].total_seconds() == 60
    assert schedule["sweep"]["options"]["expires"] == pytest.approx(54)


def test_it_reads_intervals_and_the_lease_from_a_dotenv_file(
    monkeypatch: pytest.MonkeyPatch, sqlite_settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("MONITOR_BEAT_DIGEST_SECONDS=90\nMONITOR_BEAT_LEASE_TTL=9\n")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    assert beat.beat_schedule()["send-due-digests"]["schedule"].total_seconds() == 90
    scheduler = _scheduler(monkeypatch, sqlite_settings)
    assert scheduler.lease_ttl == 9
    assert scheduler.renew_every == 3


def test_it_gives_short_ticks_time_to_cross_a_polling_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The embedded broker delivers a message when the worker next polls (a second or more):
    # a 1-second tick that expired after 0.9 s never ran at all.
    monkeypatch.setenv("MONITOR_BEAT_SCHEDULE_SECONDS", "1")
    schedule = beat.beat_schedule()
    assert schedule["schedule-due-feeds"]["options"]["expires"] == beat.TICK_MIN_LIFE


def test_it_schedules_every_stage_the_issue_asks_for() -> None:
    import workers

    tasks = {entry.task for entry in beat.SCHEDULE}
    assert tasks == {
        "monitor.schedule_due_feeds",
        "monitor.sweep",
        "monitor.send_due_digests",
        "monitor.prune",
        "monitor.websub_subscribe",
        "monitor.check_trends",
    }
    assert tasks <= set(workers.app.tasks)


def test_it_configures_celery_for_at_least_once_delivery() -> None:
    import workers

    conf = workers.app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.task_ignore_result is True
    assert conf.beat_scheduler == "workers.beat:LeasedScheduler"
    routes = conf.task_routes
    assert routes["monitor.poll_feed"]["queue"] == "poll"
    assert routes["monitor.match_articles"]["queue"] == "match"
    assert routes["monitor.deliver"]["queue"] == "alerts"


def _scheduler(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Any:
    import workers

    monkeypatch.setenv("MONITOR_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    return beat.LeasedScheduler(app=workers.app, lazy=True)


def test_it_lets_only_the_lease_holder_send(
    monkeypatch: pytest.MonkeyPatch, sqlite_settings: Settings
) -> None:
    sent: list[str] = []
    monkeypatch.setattr(
        beat.Scheduler, "tick", lambda self, *a, **k: sent.append(self.holder) or 1.0
    )
    first = _scheduler(monkeypatch, sqlite_settings)
    second = _scheduler(monkeypatch, sqlite_settings)

    assert first.tick() == 1.0
    assert second.tick() == second.renew_every
    assert sent == [first.holder]

    # A clean stop hands over at once, without waiting for the lease to expire.
    first.close()
    second._checked_at = float("-inf")
    second.tick()
    assert sent == [first.holder, second.holder]
    assert second.holding


def test_it_stops_sending_when_the_database_is_gone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import workers

    monkeypatch.setenv("MONITOR_DATABASE_URL", f"sqlite:///{tmp_path}/missing/dir/x.db")
    get_settings.cache_clear()
    scheduler = beat.LeasedScheduler(app=workers.app, lazy=True)
    monkeypatch.setattr(beat.Scheduler, "tick", lambda self, *a, **k: pytest.fail("sent"))
    assert scheduler.tick() == scheduler.renew_every
    assert not scheduler.holding


def test_it_keeps_celery_out_of_the_library() -> None:
    offenders = []
    for path in (ROOT / "monitor").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] in {"celery", "kombu"} for name in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"monitor/ must not import Celery: {offenders}"
