"""A per-host gap between requests, for hosts that ask for one (GDELT: one every 5 s).

:mod:`monitor.feeds.hostlimit` bounds how many requests to a host are in flight at once;
some hosts also ask how *often* they are called. :func:`paced` holds the host for one request
and keeps it held for ``gap`` seconds after the request ends, across every worker: the next
request to the host starts no sooner than ``gap`` after the previous one finished, so the
host never sees two closer together than that, however slow the network or the worker.

With a Redis broker the hold is a Redis key (``SET NX`` with an expiry: a worker that dies
mid-request frees the host when the fetch deadline and the gap have passed); in the embedded
mode every worker thread is in one process, and a dictionary under a lock does the same.

A caller that cannot start within ``wait`` seconds gets
:class:`~monitor.feeds.hostlimit.HostBusy`: the poller then tries again soon, without
counting an error, as it does for a host whose slots are all taken.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from monitor.config import Settings
from monitor.feeds.hostlimit import HostBusy, redis_client

__all__ = ["paced"]

WAIT_SECONDS = 30.0
# How often a waiting caller looks again while the host is in use.
_POLL_SECONDS = 0.05

# Hand the host over from this request to the gap after it, if the hold is still ours.
_GAP = "gap"
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 0
"""

# Per host, when it is free again (clock seconds); infinity while a request is in flight.
_free_at: dict[str, float] = {}
_lock = threading.Lock()


@contextmanager
def paced(
    host: str,
    gap: float,
    *,
    settings: Settings,
    wait: float = WAIT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Run the block (one request to *host*) when the host is free, and keep it from the
    next request for *gap* seconds after the block ends. A *gap* of 0 does nothing."""
    if gap <= 0:
        yield
        return
    host = host.lower()
    if settings.broker_is_redis:
        with _redis_hold(host, gap, settings, wait, clock, sleep):
            yield
    else:
        with _local_hold(host, gap, wait, clock, sleep):
            yield


def _busy(host: str, gap: float) -> HostBusy:
    return HostBusy(f"{host}: its requests must be {gap:g} s apart, and others are waiting")


@contextmanager
def _local_hold(
    host: str,
    gap: float,
    wait: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Iterator[None]:
    give_up = clock() + wait
    while True:
        with _lock:
            now = clock()
            free_at = _free_at.get(host, -math.inf)
            if now >= free_at:
                _free_at[host] = math.inf
                break
        if now >= give_up:
            raise _busy(host, gap)
        sleep(min(free_at - now, give_up - now, _POLL_SECONDS if free_at == math.inf else wait))
    try:
        yield
    finally:
        with _lock:
            _free_at[host] = clock() + gap


@contextmanager
def _redis_hold(
    host: str,
    gap: float,
    settings: Settings,
    wait: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Iterator[None]:
    client = redis_client(settings.broker_url)
    key = f"monitor:pace:{host}"
    token = secrets.token_hex(8)
    # Held while the request runs, at most as long as a fetch may take, then the gap.
    hold_ms = math.ceil((settings.fetch_deadline + gap) * 1000)
    give_up = clock() + wait
    while not client.set(key, token, nx=True, px=hold_ms):
        now = clock()
        if now >= give_up:
            raise _busy(host, gap)
        # In the gap after a request, its end is known; while one is in flight, it is not.
        value, left_ms = client.pipeline().get(key).pttl(key).execute()
        delay = left_ms / 1000 if value == _GAP.encode() and left_ms > 0 else _POLL_SECONDS
        sleep(max(min(delay, give_up - now), 0.001))
    try:
        yield
    finally:
        release = client.register_script(_RELEASE)
        release(keys=[key], args=[token, _GAP, max(math.ceil(gap * 1000), 1)])
