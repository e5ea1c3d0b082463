"""A host's requests are spaced by its gap, in one process and across workers (Redis)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from monitor.config import Settings
from monitor.feeds.hostlimit import HostBusy
from monitor.feeds.pacing import paced, take_turn
from tests.conftest import REDIS_URL, make_settings
from tests.feeds.test_hostlimit import redis_settings


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["in-process", "redis"])
def pace_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "redis":
        return redis_settings(tmp_path, 2)
    return make_settings(tmp_path)


def host() -> str:
    # A host of its own per test: turns are kept per host, in the process or in Redis.
    return f"gdelt-{secrets.token_hex(4)}.example"


def test_it_hands_out_turns_a_gap_apart(pace_settings: Settings) -> None:
    clock, name = Clock(), host()

    waits = [take_turn(name, 5.0, settings=pace_settings, clock=clock) for _ in range(3)]

    assert waits == [0.0, 5.0, 10.0]


def test_it_lets_a_request_go_at_once_once_the_gap_has_passed(pace_settings: Settings) -> None:
    clock, name = Clock(), host()
    take_turn(name, 5.0, settings=pace_settings, clock=clock)
    clock.now += 2.0
    assert take_turn(name, 5.0, settings=pace_settings, clock=clock) == 3.0
    clock.now += 60.0
    assert take_turn(name, 5.0, settings=pace_settings, clock=clock) == 0.0


def test_it_refuses_a_turn_further_off_than_the_wait(pace_settings: Settings) -> None:
    clock, name = Clock(), host()
    for _ in range(3):
        take_turn(name, 5.0, settings=pace_settings, wait=12.0, clock=clock)

    with pytest.raises(HostBusy, match="requests are 5 s apart"):
        take_turn(name, 5.0, settings=pace_settings, wait=12.0, clock=clock)
    # The refused caller took nothing: the next turn is still 15 s away.
    assert take_turn(name, 5.0, settings=pace_settings, wait=20.0, clock=clock) == 15.0


def test_it_sleeps_until_the_turn_before_the_request(tmp_path: Path) -> None:
    settings, name = make_settings(tmp_path), host()
    slept: list[float] = []
    with paced(name, 0.0, settings=settings, sleep=slept.append):
        pass
    take_turn(name, 30.0, settings=settings)
    with paced(name, 30.0, settings=settings, sleep=slept.append):
        pass
    assert len(slept) == 1 and 29.0 < slept[0] <= 30.0


def test_it_keeps_turns_in_redis_under_the_hosts_key(tmp_path: Path) -> None:
    settings, name = redis_settings(tmp_path, 2), host()
    import redis

    take_turn(name, 5.0, settings=settings, clock=Clock())
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert float(client.get(f"monitor:pace:{name}") or 0) == 1_000_005_000
        assert client.pttl(f"monitor:pace:{name}") > 0
    finally:
        client.close()
