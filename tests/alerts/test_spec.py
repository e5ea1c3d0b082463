"""A watchlist's ``alerts:`` entries: every mistake is one line naming where, never a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.watchlists import load_watchlists

URL = "https://hooks.slack.com/services/T0/B0/hunter2"

# (id, the alerts: entry, the one error expected)
MISTAKES = [
    (
        "webhook-url-as-channel",
        f"- slack: '{URL}'",
        "3:12: alerts.0.slack: a URL is not a Slack channel; for an incoming webhook write "
        "{webhook: env:VARIABLE}",
    ),
    (
        "webhook-url-in-yaml",
        f"- slack: {{webhook: '{URL}'}}",
        "3:12: alerts.0.slack: webhook: a webhook must be given as env:VARIABLE",
    ),
    ("webhook-without-url", "- slack: {}", "3:12: alerts.0.slack: webhook: Field required"),
    ("bad-channel", "- slack: 'news desk'", "3:12: alerts.0.slack: 'news desk' is not a Slack"),
    ("bad-address", "- email: [desk]", "3:12: alerts.0.email: 'desk' is not an email address"),
    ("no-address", "- email: []", "3:12: alerts.0.email: email needs at least one address"),
    (
        "two-kinds",
        "- slack: '#desk'\n  email: [a@example.org]",
        "3:5: alerts.0: each alert needs exactly one of 'slack', 'email' or 'console'",
    ),
    ("unknown-kind", "- pager: duty", "3:5: unknown key 'pager' in alerts.0"),
    (
        "bad-digest",
        "- slack: '#desk'\n  digest: weekly",
        "4:13: alerts.0.digest: digest must be 'hourly' or 'daily HH:MM Area/City', not 'weekly'",
    ),
    (
        "bad-time-zone",
        "- slack: '#desk'\n  digest: daily 08:00 Mars/Olympus",
        "4:13: alerts.0.digest: unknown time zone 'Mars/Olympus'",
    ),
    (
        "time-zone-area",  # a directory of the zone database: ZoneInfo raised OSError
        "- slack: '#desk'\n  digest: daily 08:00 Africa",
        "4:13: alerts.0.digest: unknown time zone 'Africa'",
    ),
]


@pytest.mark.parametrize(
    ("entry", "expected"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_it_reports_each_alert_mistake_in_one_line_without_secrets(
    tmp_path: Path, entry: str, expected: str
) -> None:
    path = tmp_path / "desk.yaml"
    indented = "\n".join(f"  {line}" for line in entry.splitlines())
    path.write_text(f"query: naira\nalerts:\n{indented}\n", encoding="utf-8")
    [error] = [str(e) for e in load_watchlists([path]).errors]
    assert error.startswith(f"{path}:{expected}")
    assert "\n" not in error and "hunter2" not in error
