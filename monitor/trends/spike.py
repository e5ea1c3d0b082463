"""The spike rule: whether the last hour or the last six hours hold improbably many stories.

Pure: a watchlist's story times and the clock in, an :class:`Assessment` (with the counts and
probabilities that decided it) out; no database, so it can be tested on seeded series. The
rule, for analysts (docs/alerts.md, "Spike alerts", says the same):

1. Stories, not articles, are counted: a wire story carried by 40 outlets is one story. Each
   story is placed at its published time (never later than when we first saw it).
2. Two windows end now: the last hour and the last six hours.
3. For each window the expected count is the larger of

   - the *same hours of the week* in the baseline: the mean count of that window shifted back
     by 1, 2, ... whole weeks, as many weeks as the baseline holds (at least one), so a bump
     that comes every Monday morning is expected on Monday morning; and
   - the baseline's *overall rate* (stories per hour over the baseline, the last six hours
     left out so a burst does not raise its own bar) times the window's hours;

   and never less than ``FLOOR_PER_HOUR`` times the window's hours, so a quiet watchlist is
   not judged against zero.
4. The count is improbable when a Poisson variable with that expected mean would reach it
   with probability under the sensitivity's threshold (``low`` 1e-4, ``normal`` 1e-3,
   ``high`` 1e-2), and the count is at least ``min_stories``.
5. A spike starts when either window is improbable. It is over (and a new one may alert)
   only when both windows are back to normal: each with a tail probability of at least
   ``CALM_P``. Between the two, the watchlist stays quiet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

__all__ = [
    "CALM_P",
    "FLOOR_PER_HOUR",
    "SENSITIVITY",
    "WINDOWS",
    "Assessment",
    "SpikeRule",
    "WindowCount",
    "assess",
    "poisson_tail",
]

Sensitivity = Literal["low", "normal", "high"]

#: The tail probability under which a count is improbable, per sensitivity.
SENSITIVITY: dict[str, float] = {"low": 1e-4, "normal": 1e-3, "high": 1e-2}
#: Both windows at least this probable again: the spike is over.
CALM_P = 0.05
#: The least expected rate, stories per hour, whatever the baseline says.
FLOOR_PER_HOUR = 0.05
WINDOWS = (timedelta(hours=1), timedelta(hours=6))
WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class SpikeRule:
    """A watchlist's ``spike:`` block."""

    baseline: timedelta = timedelta(days=14)
    min_stories: int = 5
    sensitivity: Sensitivity = "normal"

    @property
    def threshold(self) -> float:
        return SENSITIVITY[self.sensitivity]


@dataclass(frozen=True, slots=True)
class WindowCount:
    """One window's count, what was expected, and how probable that count was."""

    length: timedelta
    observed: int
    expected: float
    p: float  # P(X >= observed) for X ~ Poisson(expected)

    @property
    def label(self) -> str:
        hours = int(self.length.total_seconds() // 3600)
        return "the last hour" if hours == 1 else f"the last {hours} hours"


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict: whether a spike is on (``improbable``), whether all is normal (``calm``),
    and the window that decided it (the least probable one)."""

    windows: tuple[WindowCount, ...]
    improbable: bool
    calm: bool

    @property
    def worst(self) -> WindowCount:
        return min(self.windows, key=lambda w: (w.p, -w.observed))


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(*mean*), summed in log space so a large mean cannot
    overflow."""
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    below = 0.0
    log_term = -mean  # log P(X = 0)
    for i in range(k):
        if i:
            log_term += math.log(mean) - math.log(i)
        below += math.exp(log_term)
    return max(0.0, 1.0 - below)


def _count(times: Sequence[datetime], start: datetime, end: datetime) -> int:
    return sum(1 for t in times if start <= t < end)


def expected_count(
    times: Sequence[datetime], *, now: datetime, length: timedelta, baseline: timedelta
) -> float:
    """The count a window of *length* ending at *now* should hold (rule step 3)."""
    hours = length.total_seconds() / 3600
    weeks = max(1, int(baseline / WEEK))
    same_hours = (
        sum(_count(times, now - k * WEEK - length, now - k * WEEK) for k in range(1, weeks + 1))
        / weeks
    )
    recent = max(WINDOWS)
    span = max(baseline - recent, timedelta(hours=1))
    overall = _count(times, now - recent - span, now - recent) / (span.total_seconds() / 3600)
    return max(same_hours, overall * hours, FLOOR_PER_HOUR * hours)


def assess(times: Sequence[datetime], *, now: datetime, rule: SpikeRule) -> Assessment:
    """Judge the windows ending at *now*, given every story time of the watchlist over the
    baseline (and the weeks it reaches back)."""
    windows = []
    for length in WINDOWS:
        observed = _count(times, now - length, now)
        expected = expected_count(times, now=now, length=length, baseline=rule.baseline)
        windows.append(WindowCount(length, observed, expected, poisson_tail(observed, expected)))
    improbable = any(w.p < rule.threshold and w.observed >= rule.min_stories for w in windows)
    calm = all(w.p >= CALM_P for w in windows)
    return Assessment(tuple(windows), improbable, calm)
