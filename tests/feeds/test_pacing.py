"""A host's requests are kept a gap apart, in one process and across workers (Redis): the next
request starts no sooner than the gap after the previous one ended."""

from __future__ import annotations

import secrets
import threading
import time
from itertools import pairwise
from pathlib import Path

import pytest

from monitor.config import Settings
from monitor.feeds.hostlimit import HostBusy
from monitor.feeds.pacing import paced
from tests.conftest import make_settings
from tests.feeds.test_hostlimit import redis_settings


class Clock:
    """A clock that moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def host() -> str:
    # A host of its own per test: holds are kept per host, in the process or in Redis.
    return f"gdelt-{secrets.token_hex(4)}.example"


def test_it_lets_the_first_request_go_at_once_and_the_next_a_gap_after_it_ended(
    tmp_path: Path,
) -> None:
    settings, clock, name = make_settings(tmp_path), Clock(), host()
    with paced(name, 5.0, settings=settings, clock=clock, sleep=clock.sleep):
        clock.now += 2.0  # the request takes 2 s
    ended = clock.now

    with paced(name, 5.0, settings=settings, clock=clock, sleep=clock.sleep):
        started = clock.now

    assert started - ended == pytest.approx(5.0)
    assert clock.slept == [pytest.approx(5.0)]


def test_it_lets_a_request_go_at_once_once_the_gap_has_passed(tmp_path: Path) -> None:
    settings, clock, name = make_settings(tmp_path), Clock(), host()
    with paced(name, 5.0, settings=settings, clock=clock, sleep=clock.sleep):
        pass
    clock.now += 60.0

    with paced(name, 5.0, settings=settings, clock=clock, sleep=clock.sleep):
        pass

    assert clock.slept == []


def test_it_gives_up_past_the_wait_and_leaves_the_host_as_it_was(tmp_path: Path) -> None:
    settings, clock, name = make_settings(tmp_path), Clock(), host()
    with paced(name, 50.0, settings=settings, clock=clock, sleep=clock.sleep):
        pass

    with (
        pytest.raises(HostBusy, match="requests must be 50 s apart"),
        paced(name, 50.0, settings=settings, wait=10.0, clock=clock, sleep=clock.sleep),
    ):
        pass
    assert sum(clock.slept) == pytest.approx(10.0)
    with paced(name, 50.0, settings=settings, wait=60.0, clock=clock, sleep=clock.sleep):
        assert sum(clock.slept) == pytest.approx(50.0)


def test_it_does_nothing_without_a_gap(tmp_path: Path) -> None:
    settings, clock, name = make_settings(tmp_path), Clock(), host()
    for _ in range(3):
        with paced(name, 0.0, settings=settings, clock=clock, sleep=clock.sleep):
            pass
    assert clock.slept == []


@pytest.fixture(params=["in-process", "redis"])
def pace_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "redis":
        return redis_settings(tmp_path, 2)
    return make_settings(tmp_path)


def test_it_keeps_concurrent_workers_a_gap_apart(pace_settings: Settings) -> None:
    name, gap = host(), 0.2
    spans: list[tuple[float, float]] = []
    spans_lock = threading.Lock()

    def request() -> None:
        with paced(name, gap, settings=pace_settings):
            start = time.monotonic()
            time.sleep(0.02)
            with spans_lock:
                spans.append((start, time.monotonic()))

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    spans.sort()
    assert len(spans) == 4
    # Each request starts at least the gap after the one before it ended: never in between.
    gaps = [start - end for (_s, end), (start, _e) in pairwise(spans)]
    assert min(gaps) >= gap - 0.005
