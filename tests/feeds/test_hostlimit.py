"""The per-host limit holds across threads (in-process) and across workers (Redis)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from monitor.config import Settings
from monitor.feeds import hostlimit
from monitor.feeds.fetcher import fetch
from monitor.feeds.hostlimit import HostBusy, host_slot
from tests.conftest import REDIS_URL, make_settings, need
from tests.support.feedserver import FeedServer


def redis_settings(tmp_path: Path, limit: int) -> Settings:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:
        need(False, f"Redis not reachable at {REDIS_URL}: {type(exc).__name__}")
    return make_settings(tmp_path, broker_url=REDIS_URL, fetch_per_host_limit=limit)


def hammer(server: FeedServer, settings: Settings, *, workers: int) -> None:
    def one() -> None:
        with host_slot("127.0.0.1", settings=settings):
            fetch(server.url("/slow"), settings=settings)

    threads = [threading.Thread(target=one) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.parametrize("limit", [1, 2], ids=["one", "two"])
def test_it_limits_concurrent_requests_per_host_in_process(
    server: FeedServer, tmp_path: Path, limit: int
) -> None:
    settings = make_settings(tmp_path, fetch_per_host_limit=limit)
    server.set("/slow", b"<rss/>", delay=0.15)
    hammer(server, settings, workers=6)
    assert server.count("/slow") == 6
    assert server.max_in_flight == limit


@pytest.mark.redis
def test_it_limits_concurrent_requests_per_host_across_workers_with_redis(
    server: FeedServer, tmp_path: Path
) -> None:
    # Two 'workers' with their own settings objects share only Redis.
    first = redis_settings(tmp_path, limit=2)
    second = redis_settings(tmp_path, limit=2)
    server.set("/slow", b"<rss/>", delay=0.15)
    threads = [
        threading.Thread(target=hammer, args=(server, s), kwargs={"workers": 4})
        for s in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert server.count("/slow") == 8
    assert server.max_in_flight == 2


@pytest.mark.redis
def test_it_gives_up_when_the_host_stays_busy_and_frees_slots_after(tmp_path: Path) -> None:
    settings = redis_settings(tmp_path, limit=1)
    host = f"busy-{time.time_ns()}.example.org"
    with (
        host_slot(host, settings=settings),
        pytest.raises(HostBusy),
        host_slot(host, settings=settings, wait=0.1),
    ):
        pass
    with host_slot(host, settings=settings, wait=0.1):
        pass


def test_it_gives_up_in_process_when_the_host_stays_busy(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, fetch_per_host_limit=1)
    with (
        host_slot("busy.example.org", settings=settings),
        pytest.raises(HostBusy),
        host_slot("busy.example.org", settings=settings, wait=0.05),
    ):
        pass


@pytest.mark.redis
def test_its_redis_connections_close_at_worker_shutdown_and_reconnect_after(tmp_path: Path) -> None:
    import redis

    settings = redis_settings(tmp_path, limit=1)
    host = f"close-{time.time_ns()}.example.org"
    name = f"monitor-hostlimit-{time.time_ns()}"
    with host_slot(host, settings=settings):
        # Name the limiter's connection, so that the server can tell it apart.
        hostlimit.redis_client(REDIS_URL).client_setname(name)
    observer = redis.Redis.from_url(REDIS_URL)
    names = lambda: {c.get("name") for c in observer.client_list()}  # noqa: E731
    assert name in names()
    # A worker process that shuts down closes it (and the fetcher's pools).
    from celery.signals import worker_process_shutdown

    import workers.app  # noqa: F401 - connects the shutdown handlers

    worker_process_shutdown.send(sender=None, pid=None, exitcode=0)
    assert name not in names()
    assert hostlimit._redis_clients == {}
    with host_slot(host, settings=settings, wait=0.1):  # connects again when next needed
        pass
    observer.close()
