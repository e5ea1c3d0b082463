"""The beat: what is scheduled, how often, and the lease that keeps it to one scheduler.

The schedule is one list. Each entry names its task, its interval, the environment variable
that overrides the interval, and an ``expires`` just under the interval, so a backlog drops
stale ticks instead of piling them up (the next tick asks the tables again anyway).

Only one beat may send at a time: two would double every message. ``celery beat`` (or the
worker's embedded ``-B``) runs :class:`LeasedScheduler`, which sends only while it holds the
``beat`` lease in the database (:mod:`monitor.leases`). A second beat started by mistake, or
as a hot standby, idles and logs that it is standing by; it takes over within
``MONITOR_BEAT_LEASE_TTL`` seconds of the first one dying, and at once when the first stops
cleanly.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery.beat import Scheduler

from monitor import leases
from monitor.config import get_settings
from monitor.db import session_scope
from monitor.logs import get_logger

__all__ = ["LEASE_NAME", "SCHEDULE", "LeasedScheduler", "beat_schedule"]

log = get_logger(__name__)

LEASE_NAME = "beat"

# Seconds a tick may wait in the broker whatever its interval (see Entry.expires).
TICK_MIN_LIFE = 10.0


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    # The Settings field that holds the interval, in seconds.
    setting: str
    task: str

    @property
    def env(self) -> str:
        """The environment variable (or ``.env`` line) that sets the interval."""
        return f"MONITOR_{self.setting.upper()}"

    @property
    def interval(self) -> float:
        return float(getattr(get_settings(), self.setting))

    @property
    def expires(self) -> float:
        # Just under the interval: a tick that waited a whole interval is superseded by the
        # next one. Never under TICK_MIN_LIFE, though: the embedded broker hands a message
        # to a worker only when it next polls its queues (a second or more on a busy
        # machine), and with short intervals every tick expired on the way and none ran.
        return max(TICK_MIN_LIFE, self.interval * 0.9)


SCHEDULE = [
    # Ask the feeds table which feeds are due and send one poll message each.
    Entry("schedule-due-feeds", "beat_schedule_seconds", "monitor.schedule_due_feeds"),
    # Re-send what a dead worker dropped: due deliveries, unmatched articles; queue lag gauge.
    Entry("sweep", "beat_sweep_seconds", "monitor.sweep"),
    # Open the digests whose time has come and send them.
    Entry("send-due-digests", "beat_digest_seconds", "monitor.send_due_digests"),
    # Spike alerts on watchlists' volume, and feeds that answer but stopped publishing.
    Entry("check-trends", "beat_trends_seconds", "monitor.check_trends"),
    # Delete articles without hits past the retention period.
    Entry("prune", "beat_prune_seconds", "monitor.prune"),
    # Send the WebSub subscription requests that are due: new hubs, renewals, retries.
    Entry("websub-subscribe", "beat_websub_seconds", "monitor.websub_subscribe"),
]


def beat_schedule() -> dict[str, dict[str, Any]]:
    """The schedule in Celery's ``beat_schedule`` format."""
    return {
        entry.name: {
            "task": entry.task,
            "schedule": timedelta(seconds=entry.interval),
            "options": {"expires": entry.expires},
        }
        for entry in SCHEDULE
    }


class LeasedScheduler(Scheduler):  # type: ignore[misc]
    """A scheduler that sends only while this process holds the ``beat`` lease.

    Nothing is persisted locally: after a restart every entry runs once at once, which is
    harmless because every task asks the database what is due.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.holder = leases.holder_id("beat")
        # A lease not renewed for lease_ttl seconds is free for a standby; the holder renews
        # it every third of that.
        self.lease_ttl = get_settings().beat_lease_ttl
        self.renew_every = self.lease_ttl / 3
        self.holding = False
        self._announced: bool | None = None
        self._checked_at = float("-inf")
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._hold_lease():
            return self.renew_every
        return float(min(super().tick(*args, **kwargs), self.renew_every))

    def _hold_lease(self) -> bool:
        if time.monotonic() - self._checked_at < self.renew_every:
            return self.holding
        self._checked_at = time.monotonic()
        try:
            with session_scope(get_settings()) as session:
                held = leases.renew(
                    session, LEASE_NAME, self.holder, ttl=timedelta(seconds=self.lease_ttl)
                )
        except Exception as exc:
            # Without the database we cannot know whether we still hold it: stop sending.
            log.warning("beat cannot reach the database", error=str(exc).splitlines()[0])
            held = False
        if held != self._announced:
            self._announced = held
            if held:
                log.info("beat lease taken: this beat schedules", holder=self.holder)
            else:
                log.info("beat standing by: another beat holds the lease", holder=self.holder)
        self.holding = held
        return held

    def close(self) -> None:
        if self.holding:
            try:
                with session_scope(get_settings()) as session:
                    leases.release(session, LEASE_NAME, self.holder)
                log.info("beat lease released", holder=self.holder)
            except Exception as exc:
                log.warning("beat could not release its lease", error=str(exc).splitlines()[0])
            self.holding = False
        super().close()


def check() -> int:
    """Exit status for a healthcheck: 0 while some beat holds the lease, 1 otherwise."""
    try:
        with session_scope(get_settings()) as session:
            holder = leases.lease_holder(session, LEASE_NAME)
    except Exception as exc:
        print(f"beat: cannot read the lease: {str(exc).splitlines()[0]}")
        return 1
    if holder is None:
        print("beat: no beat holds the lease")
        return 1
    print(f"beat: lease held by {holder}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--check"]:
        sys.exit("usage: python -m workers.beat --check")
    sys.exit(check())
