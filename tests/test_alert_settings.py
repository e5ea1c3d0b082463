"""MONITOR_ALERT_MAX_AGE: what it accepts, and one line for the rest."""

from __future__ import annotations

import pytest

from monitor.config import load_settings
from monitor.errors import ConfigError


def test_it_defaults_to_48_hours() -> None:
    assert load_settings().alert_max_age == 48 * 3600


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("48h", 172_800), ("2d", 172_800), ("172800", 172_800), ("90m", 5400), (" 30s ", 30)],
    ids=["hours", "days", "seconds", "minutes", "spaced"],
)
def test_it_reads_the_max_age_in_hours_days_or_seconds(value: str, seconds: int) -> None:
    assert load_settings(alert_max_age=value).alert_max_age == seconds


def test_it_reads_the_max_age_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_ALERT_MAX_AGE", "3d")
    assert load_settings().alert_max_age == 3 * 86_400


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("two days", "MONITOR_ALERT_MAX_AGE: expected a number of seconds or a duration"),
        ("48x", "MONITOR_ALERT_MAX_AGE: expected a number of seconds or a duration"),
        ("0", "MONITOR_ALERT_MAX_AGE: Input should be greater than or equal to 1"),
    ],
    ids=["words", "unit", "zero"],
)
def test_it_names_a_bad_max_age_in_one_line(value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(alert_max_age=value)
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)
