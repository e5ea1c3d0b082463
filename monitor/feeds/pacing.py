"""A per-host gap between requests, for hosts that ask for one (GDELT: one every 5 s).

:mod:`monitor.feeds.hostlimit` bounds how many requests to a host are in flight at once;
some hosts also ask how *often* they are called. :func:`paced` makes each caller wait for its
turn: the first request to a host goes at once, and each later one no sooner than ``gap``
seconds after the one before, across every worker. Turns are handed out in order, so callers
queue rather than race. With a Redis broker the next free moment per host lives in Redis (one
atomic script takes a turn and moves it on); in the embedded mode every worker thread is in
one process, and a dictionary under a lock does the same.

A caller whose turn is further away than ``wait`` seconds does not take it and gets
:class:`~monitor.feeds.hostlimit.HostBusy`: the poller then tries again soon, without
counting an error, as it does for a host whose slots are all taken.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from monitor.config import Settings
from monitor.feeds.hostlimit import HostBusy, redis_client

__all__ = ["paced", "take_turn"]

WAIT_SECONDS = 30.0

# Take the host's next turn if it comes within the wait: returns the milliseconds to wait, or
# -1 (the turn is too far off; nothing taken). Atomic in Redis. Times are in milliseconds.
_TAKE_TURN = """
local now = tonumber(ARGV[1])
local gap = tonumber(ARGV[2])
local wait = tonumber(ARGV[3])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(now, nxt)
if start - now > wait then
  return -1
end
redis.call('SET', KEYS[1], tostring(start + gap), 'PX', math.ceil(start + gap - now) + 1000)
return start - now
"""

_next_turn: dict[str, float] = {}
_lock = threading.Lock()


def take_turn(
    host: str,
    gap: float,
    *,
    settings: Settings,
    wait: float = WAIT_SECONDS,
    clock: Callable[[], float] = time.time,
) -> float:
    """Take *host*'s next turn: the seconds until it comes (0: go now), or HostBusy."""
    host = host.lower()
    if gap <= 0:
        return 0.0
    if settings.broker_is_redis:
        script = redis_client(settings.broker_url).register_script(_TAKE_TURN)
        millis = int(
            script(
                keys=[f"monitor:pace:{host}"],
                args=[int(clock() * 1000), int(gap * 1000), int(wait * 1000)],
            )
        )
        if millis < 0:
            raise HostBusy(f"{host}: its requests are {gap:g} s apart, and the queue is long")
        return millis / 1000
    with _lock:
        now = clock()
        start = max(now, _next_turn.get(host, 0.0))
        if start - now > wait:
            raise HostBusy(f"{host}: its requests are {gap:g} s apart, and the queue is long")
        _next_turn[host] = start + gap
    return start - now


@contextmanager
def paced(
    host: str,
    gap: float,
    *,
    settings: Settings,
    wait: float = WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Run the block (one request to *host*) at the host's next turn."""
    delay = take_turn(host, gap, settings=settings, wait=wait)
    if delay > 0:
        sleep(delay)
    yield
