"""How often a feed publishes, and so how often to poll it: the adaptive interval.

Each successful poll that reads the document estimates the feed's publishing rate from the
timestamps of the items it lists: ``n - 1`` gaps over the time from the oldest item to now.
Counting to *now* rather than to the newest item lets a feed that went quiet slow down,
and reading the document's own timestamps rather than counting stored rows is what keeps a
new feed from Miniflux's #2166 pitfall: its first poll stores fifty items of the last day,
a count of stored rows per week says fifty a week, and a busy feed is polled every three
hours. Here the first poll already sees fifty items a day.

The estimate is smoothed from poll to poll (a geometric moving average, so one odd
document moves the rate by a fraction of its ratio, never to zero) and stored in
``feeds.items_per_day``.

The interval is the geometric mean of ``MONITOR_POLL_INTERVAL`` and the feed's mean gap
between items, ``sqrt(poll_interval * 86400 / items_per_day)``: a feed publishing every 15
minutes is polled every 15 minutes, one publishing every 100 seconds every 5 minutes, one
publishing once a day every 2.4 hours. The square root is what spends a fixed number of
requests best: an item waits half its feed's interval on average, so the wait summed over
items is ``sum(rate_i * interval_i) / 2``; with ``sum(1 / interval_i)`` (requests) held
fixed, it is least when ``interval_i`` goes as ``1 / sqrt(rate_i)``
(benchmarks/polling.py measures it on the shared real feeds). ``interval:`` in feeds.yaml
overrides it, and the result is kept within ``MONITOR_POLL_MIN_INTERVAL`` and
``MONITOR_POLL_MAX_INTERVAL`` (:mod:`monitor.feeds.schedule`). A feed whose document gives
no two dated items keeps ``MONITOR_POLL_INTERVAL`` until one does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["adaptive_interval", "observed_rate", "smoothed_rate"]

DAY = 86_400.0
# Weight of the newest estimate in the smoothed rate. Consecutive documents list mostly the
# same items, so each estimate already averages many gaps: the smoothing only damps a
# document that changed its length or lost its dates.
SMOOTHING = 0.3
# The shortest span an estimate is measured over: a feed whose items all carry the same
# minute (a batch import) must not look like thousands of items a day.
MIN_SPAN = 3600.0


def observed_rate(stamps: Iterable[float], *, now: float) -> float | None:
    """Items per day from the items' timestamps (seconds since the epoch), measured up to
    *now*; None with fewer than two dated items. Dates in the future count as now."""
    times = sorted(min(stamp, now) for stamp in stamps)
    if len(times) < 2:
        return None
    span = max(now - times[0], MIN_SPAN)
    return (len(times) - 1) / span * DAY


def smoothed_rate(previous: float | None, observed: float | None) -> float | None:
    """The stored rate moved towards the new estimate; a new feed takes the estimate as is."""
    if observed is None or observed <= 0:
        return previous
    if previous is None or previous <= 0:
        return observed
    return math.exp((1 - SMOOTHING) * math.log(previous) + SMOOTHING * math.log(observed))


def adaptive_interval(items_per_day: float | None, *, poll_interval: float) -> float:
    """Seconds between polls for a feed publishing *items_per_day*, before the bounds."""
    if items_per_day is None or items_per_day <= 0:
        return poll_interval
    return math.sqrt(poll_interval * DAY / items_per_day)
