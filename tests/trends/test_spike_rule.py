"""The spike rule on its own: Poisson tails, the expected count, and seeded series."""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from monitor.trends.spike import SpikeRule, assess, expected_count, poisson_tail
from monitor.trends.spike_alerts import rule_of
from monitor.watchlists.spec import WatchlistFile

NOW = datetime(2026, 3, 23, 9, 30, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("k", "mean", "expected"),
    [
        (0, 3.0, 1.0),
        (1, 2.0, 1 - math.exp(-2.0)),
        (3, 1.0, 1 - math.exp(-1.0) * (1 + 1 + 0.5)),
        (4, 0.0, 0.0),
    ],
    ids=["zero-always", "at-least-one", "at-least-three", "zero-mean"],
)
def test_it_computes_the_poisson_tail(k: int, mean: float, expected: float) -> None:
    assert poisson_tail(k, mean) == pytest.approx(expected)


def test_it_keeps_the_tail_finite_for_large_means() -> None:
    assert 0 < poisson_tail(400, 300.0) < 1e-6
    assert poisson_tail(300, 300.0) == pytest.approx(0.5, abs=0.03)


def steady(rng: random.Random, *, per_hour: float, days: int, end: datetime) -> list[datetime]:
    """Story times arriving at random (a Poisson process) for *days* before *end*."""
    times, t = [], end - timedelta(days=days)
    while True:
        t += timedelta(hours=rng.expovariate(per_hour))
        if t >= end:
            return times
        times.append(t)


def test_it_calls_a_burst_after_a_steady_baseline_improbable() -> None:
    rng = random.Random(21)
    times = steady(rng, per_hour=0.5, days=21, end=NOW - timedelta(hours=1))
    times += [NOW - timedelta(minutes=50 - 4 * n) for n in range(10)]
    verdict = assess(times, now=NOW, rule=SpikeRule())
    assert verdict.improbable and not verdict.calm
    worst = verdict.worst
    assert worst.observed >= 10 and worst.expected < 4 and worst.p < 1e-3


def test_it_expects_the_weekly_bump_at_its_hour_of_the_week() -> None:
    rng = random.Random(7)
    times = steady(rng, per_hour=0.3, days=21, end=NOW)
    for week in range(4):  # this Monday 09:00-09:30 and the three before it
        start = NOW - timedelta(minutes=30) - timedelta(weeks=week)
        times += [start + timedelta(minutes=3 * n) for n in range(9)]
    expected = expected_count(times, now=NOW, length=timedelta(hours=1), baseline=timedelta(14))
    assert expected >= 9
    assert not assess(times, now=NOW, rule=SpikeRule()).improbable


def test_it_needs_min_stories_however_quiet_the_watchlist() -> None:
    times = [NOW - timedelta(minutes=10 * n + 1) for n in range(4)]
    assert not assess(times, now=NOW, rule=SpikeRule(min_stories=5)).improbable
    assert assess(times, now=NOW, rule=SpikeRule(min_stories=4)).improbable


def test_it_is_stricter_at_low_sensitivity() -> None:
    # One story every hour, like clockwork, then four more in the last hour: five where one
    # was expected, P = 0.0037, improbable only at high sensitivity.
    times = [NOW - timedelta(minutes=20) - timedelta(hours=h) for h in range(21 * 24)]
    times += [NOW - timedelta(minutes=5 * n + 1) for n in range(4)]
    verdicts = {
        level: assess(times, now=NOW, rule=SpikeRule(sensitivity=level))
        for level in ("low", "normal", "high")
    }
    hour = verdicts["normal"].windows[0]
    assert (hour.observed, hour.expected) == (5, 1.0)
    assert hour.p == pytest.approx(0.00366, abs=1e-4)
    assert {level: v.improbable for level, v in verdicts.items()} == {
        "low": False,
        "normal": False,
        "high": True,
    }


@pytest.mark.parametrize(
    ("spike", "problem"),
    [
        ({"baseline": "3d"}, "at least 7d"),
        ({"baseline": "two weeks"}, "duration such as 48h or 2d"),
        ({"min_stories": 0}, "greater than or equal to 1"),
        ({"sensitivity": "extreme"}, "'low', 'normal' or 'high'"),
        ({"window": "1h"}, "Extra inputs are not permitted"),
    ],
    ids=["short-baseline", "bad-duration", "zero-stories", "bad-sensitivity", "unknown-key"],
)
def test_it_refuses_a_bad_spike_block_with_a_clear_reason(
    spike: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(problem)):
        WatchlistFile.model_validate({"id": "nk", "query": "Pyongyang", "spike": spike})


def test_it_reads_the_rule_a_watchlist_file_gives() -> None:
    spec = WatchlistFile.model_validate(
        {"id": "nk", "query": "Pyongyang", "spike": {"baseline": "28d", "sensitivity": "low"}}
    )
    rule = rule_of(spec.model_dump(mode="json"))
    assert rule == SpikeRule(baseline=timedelta(days=28), min_stories=5, sensitivity="low")
    assert rule_of({"id": "nk"}) is None
