"""MONITOR_ALERT_MAX_AGE and MONITOR_PUBLIC_URL: what they accept, and one line for the rest."""

from __future__ import annotations

import pytest

from monitor.config import load_settings
from monitor.errors import ConfigError


def test_it_defaults_to_48_hours_and_no_public_url() -> None:
    settings = load_settings()
    assert settings.alert_max_age == 48 * 3600
    assert settings.public_url is None


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


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://monitor.example.org", "https://monitor.example.org"),
        ("https://monitor.example.org/", "https://monitor.example.org"),
        ("http://10.0.0.5:8080/monitor/", "http://10.0.0.5:8080/monitor"),
        ("", None),
    ],
    ids=["plain", "trailing-slash", "port-and-path", "empty-means-none"],
)
def test_it_keeps_the_public_url_without_its_trailing_slash(
    value: str, expected: str | None
) -> None:
    assert load_settings(public_url=value).public_url == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("monitor.example.org", "MONITOR_PUBLIC_URL: expected an http:// or https:// URL"),
        ("javascript:alert(1)", "MONITOR_PUBLIC_URL: expected an http:// or https:// URL"),
        ("ftp://monitor.example.org", "MONITOR_PUBLIC_URL: expected an http:// or https:// URL"),
        ("https://", "MONITOR_PUBLIC_URL: expected an http:// or https:// URL"),
        ("https://monitor.example.org:port", "MONITOR_PUBLIC_URL: expected the dashboard's"),
        ("https://desk:hunter2@monitor.example.org", "MONITOR_PUBLIC_URL: must not hold a user"),
        ("https://monitor.example.org/?token=hunter2", "MONITOR_PUBLIC_URL: must not hold a query"),
    ],
    ids=["no-scheme", "javascript", "ftp", "no-host", "bad-port", "password", "query"],
)
def test_it_names_a_bad_public_url_in_one_line_without_its_secret(
    value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(public_url=value)
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)
    assert "hunter2" not in str(info.value)
