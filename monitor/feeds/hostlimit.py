"""A limit on concurrent requests per host, shared by every worker.

Adding workers must never mean hammering one publisher: at most
``settings.fetch_per_host_limit`` requests to a host are in flight at once across the whole
deployment. With a Redis broker the slots live in Redis (a sorted set per host, taken and
released by an atomic script; a slot whose worker died expires after ``SLOT_TTL`` seconds).
In the embedded mode, every worker thread is in one process, so a semaphore per host is enough.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from monitor.config import Settings

__all__ = ["HostBusy", "close_clients", "host_slot", "redis_client"]

SLOT_TTL = 120.0
WAIT_SECONDS = 30.0


class HostBusy(Exception):
    """Every slot for the host stayed taken for the whole wait."""


@contextmanager
def host_slot(host: str, *, settings: Settings, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold one of the host's request slots for the duration of the block."""
    host = host.lower()
    limit = settings.fetch_per_host_limit
    if settings.broker_is_redis:
        with _redis_slot(host, limit, settings.broker_url, wait):
            yield
    else:
        with _local_slot(host, limit, wait):
            yield


# -- in-process -------------------------------------------------------------------------

_semaphores: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_semaphores_lock = threading.Lock()


@contextmanager
def _local_slot(host: str, limit: int, wait: float) -> Iterator[None]:
    with _semaphores_lock:
        semaphore = _semaphores.setdefault((host, limit), threading.BoundedSemaphore(limit))
    if not semaphore.acquire(timeout=wait):
        raise HostBusy(f"{host}: {limit} requests already in flight")
    try:
        yield
    finally:
        semaphore.release()


# -- Redis ------------------------------------------------------------------------------

# Drop expired slots, then take one if fewer than the limit are held. Atomic in Redis.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) * 2)
  return 1
end
return 0
"""

_redis_clients: dict[str, Any] = {}
_redis_lock = threading.Lock()


def redis_client(url: str) -> Any:
    """The process's client of the Redis at *url* (one per URL, closed by close_clients)."""
    import redis

    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            _redis_clients[url] = client
    return client


def close_clients() -> None:
    """Disconnect the Redis clients (a worker process that shuts down, tests): otherwise their
    connections stay open until the interpreter exits. A later slot connects again."""
    with _redis_lock:
        clients = list(_redis_clients.values())
        _redis_clients.clear()
    for client in clients:
        client.close()
        client.connection_pool.disconnect()


@contextmanager
def _redis_slot(host: str, limit: int, url: str, wait: float) -> Iterator[None]:
    client = redis_client(url)
    key = f"monitor:hostslots:{host}"
    token = secrets.token_hex(8)
    acquire = client.register_script(_ACQUIRE)
    give_up = time.monotonic() + wait
    delay = 0.02
    while not acquire(keys=[key], args=[time.time(), SLOT_TTL, limit, token]):
        if time.monotonic() >= give_up:
            raise HostBusy(f"{host}: {limit} requests already in flight")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    try:
        yield
    finally:
        client.zrem(key, token)
