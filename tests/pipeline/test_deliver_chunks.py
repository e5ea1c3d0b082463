"""Deliveries are queued ``DELIVER_CHUNK`` to an ``alerts`` message, and the ``deliver`` task
sends each id of a message in turn on a real SQLite database: a missing id or one that raises
is logged and passed over, and every other delivery in the message is still sent and recorded
as sent; a message of one id still raises, for Celery to report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import select

from monitor import db as storage
from monitor.alerts import send as alerts_send
from monitor.alerts.compose import build_message as compose
from monitor.config import Settings, get_settings
from monitor.models import Delivery, utcnow
from tests.alerts.conftest import World, alerts


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Settings]:
    """The process-wide settings the tasks read, from the environment, forgotten after."""
    monkeypatch.setenv("MONITOR_DATABASE_URL", f"sqlite:///{tmp_path}/monitor.db")
    monkeypatch.setenv("MONITOR_BROKER_URL", f"sqla+sqlite:///{tmp_path}/broker.db")
    monkeypatch.setenv("MONITOR_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    settings = get_settings()
    storage.upgrade(settings)
    yield settings
    get_settings.cache_clear()


def _tasks() -> Any:
    # Imported in the test, with the test's settings in place: importing the app reads them.
    from workers import tasks

    return tasks


def _console_deliveries(settings: Settings, count: int) -> list[int]:
    """*count* deliveries to the console, one per hit of a watchlist, due now."""
    with storage.sessionmaker_for(settings)() as session:
        world = World(session)
        spec = world.watchlist("floods", alerts=alerts("console"))
        now = utcnow()
        ids = [
            delivery_id
            for n in range(count)
            for delivery_id in world.hit(
                spec, f"Flood number {n} hits Lagos", settings=settings, now=now
            )
        ]
        session.commit()
    assert len(ids) == count
    return ids


def _states(settings: Settings, ids: list[int]) -> dict[int, tuple[str, int, bool]]:
    """Each delivery's (status, attempts, whether its send time is recorded)."""
    with storage.sessionmaker_for(settings)() as session:
        rows = session.scalars(select(Delivery).where(Delivery.id.in_(ids))).all()
        return {d.id: (d.status, d.attempts, d.sent_at is not None) for d in rows}


# -- queueing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "messages"),
    [
        (25, [list(range(100, 110)), list(range(110, 120)), list(range(120, 125))]),
        (10, [list(range(100, 110))]),
        (11, [list(range(100, 110)), 110]),
        (1, [100]),
        (0, []),
    ],
)
def test_deliveries_are_queued_ten_to_a_message(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, count: int, messages: list[Any]
) -> None:
    tasks = _tasks()
    assert tasks.DELIVER_CHUNK == 10
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.deliver, "delay", lambda *args: sent.append(args))

    # Any iterable of ids, as the callers pass it (a generator here).
    tasks.send_deliveries(i for i in range(100, 100 + count))

    assert sent == [(message,) for message in messages]
    # One id alone goes as a plain int: the message a worker of the previous version reads.
    for (message,) in sent:
        assert type(message) is int or (type(message) is list and len(message) > 1)


# -- sending ----------------------------------------------------------------------------


def test_a_message_of_ids_sends_each_in_turn(settings: Settings) -> None:
    tasks = _tasks()
    ids = _console_deliveries(settings, 3)

    summary = tasks.deliver(ids)

    assert _states(settings, ids) == {i: ("sent", 1, True) for i in ids}
    assert summary == "; ".join(f"delivery {i}: sent" for i in ids)


def test_one_id_alone_is_sent_as_before(settings: Settings) -> None:
    tasks = _tasks()
    [delivery_id] = _console_deliveries(settings, 1)

    assert tasks.deliver(delivery_id) == f"delivery {delivery_id}: sent"
    assert _states(settings, [delivery_id]) == {delivery_id: ("sent", 1, True)}


def test_a_missing_id_does_not_stop_the_others(settings: Settings) -> None:
    tasks = _tasks()
    first, last = _console_deliveries(settings, 2)
    missing = last + 1000

    summary = tasks.deliver([first, missing, last])

    assert _states(settings, [first, missing, last]) == {
        first: ("sent", 1, True),
        last: ("sent", 1, True),
    }
    assert summary == (
        f"delivery {first}: sent; delivery {missing}: missing (not claimed); delivery {last}: sent"
    )


def _broken_for(monkeypatch: pytest.MonkeyPatch, *broken: int) -> None:
    """Building the message of the deliveries *broken* raises an error nobody expects (a bug), after
    its claim was committed, as a real bug in composing would."""

    def build_message(session: Any, delivery: Delivery, **kwargs: Any) -> Any:
        if delivery.id in broken:
            raise RuntimeError("a bug in composing")
        return compose(session, delivery, **kwargs)

    monkeypatch.setattr(alerts_send, "build_message", build_message)


def test_one_that_raises_is_logged_and_the_others_are_sent(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = _tasks()
    first, broken, last = _console_deliveries(settings, 3)
    _broken_for(monkeypatch, broken)

    # The task module's own logger, replaced: a logger cached by an earlier test in the same
    # process would write past structlog's capture_logs.
    logged = structlog.testing.CapturingLogger()
    monkeypatch.setattr(tasks, "log", logged)
    summary = tasks.deliver([first, broken, last])

    states = _states(settings, [first, broken, last])
    assert states[first] == states[last] == ("sent", 1, True)
    # The broken one was claimed and not sent: the sweep puts its claim back for a retry.
    assert states[broken] == ("sending", 1, False)
    [failure] = [c for c in logged.calls if c.args == ("sending a delivery failed",)]
    assert failure.method_name == "exception"
    assert failure.kwargs == {"delivery_id": broken}
    assert summary == f"delivery {first}: sent; delivery {last}: sent"


def test_a_message_of_one_id_that_raises_still_raises(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = _tasks()
    alone, listed = _console_deliveries(settings, 2)
    _broken_for(monkeypatch, alone, listed)

    # Raised, as before chunking: the task fails and Celery logs it with its traceback.
    with pytest.raises(RuntimeError, match="a bug in composing"):
        tasks.deliver(alone)
    # A list of one id is one delivery too.
    with pytest.raises(RuntimeError, match="a bug in composing"):
        tasks.deliver([listed])
