"""Destinations this process cannot send to, because the variable holding their secret is unset.

A Slack channel needs ``MONITOR_SLACK_BOT_TOKEN``, a webhook the variable the watchlist names,
email ``MONITOR_SMTP_URL`` (:meth:`monitor.config.Settings.missing_secret` is the rule). Left
unset, nothing would say so until the first hit, whose alert then fails. So ``monitor
watchlists validate`` reports each such ``alerts:`` entry at its line, and a worker that sends
alerts warns once per such destination as it starts. The messages name the variable, never a
value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.config import Settings
from monitor.destinations import destinations_for, parse_destinations
from monitor.watchlists.load import WatchlistError
from monitor.watchlists.spec import WatchlistSpec

__all__ = ["Unsendable", "unsendable_alerts", "unsendable_destinations"]


@dataclass(frozen=True, slots=True)
class Unsendable:
    """A destination that cannot be sent from here, why, and the watchlists that use it."""

    destination: str
    problem: str
    watchlists: tuple[str, ...]


def unsendable_alerts(specs: Sequence[WatchlistSpec], settings: Settings) -> list[str]:
    """One line per destination written in a watchlist (``path:line:col: ...``), and per
    default destination (``MONITOR_DEFAULT_ALERTS: ...``) a watchlist relies on, that cannot
    be sent from this process."""
    lines: list[str] = []
    for spec in specs:
        for index, alert in enumerate(spec.alerts):
            problem = settings.missing_secret(alert)
            if problem:
                line, column = spec.alert_location(index)
                message = f"alerts: cannot send to {alert.key}: {problem}"
                lines.append(str(WatchlistError(spec.path, line, column, message)))
    if any(not spec.alerts for spec in specs) and settings.default_alerts.strip():
        for alert in parse_destinations(settings.default_alerts):
            problem = settings.missing_secret(alert)
            if problem:
                lines.append(f"MONITOR_DEFAULT_ALERTS: cannot send to {alert.key}: {problem}")
    return lines


def unsendable_destinations(specs: Sequence[WatchlistSpec], settings: Settings) -> list[Unsendable]:
    """Each destination the watchlists send to that cannot be sent from here, once."""
    users: dict[str, list[str]] = {}
    problems: dict[str, str] = {}
    for spec in specs:
        for alert in destinations_for(spec, settings.default_alerts):
            problem = settings.missing_secret(alert)
            if problem:
                problems[alert.key] = problem
                users.setdefault(alert.key, []).append(spec.id)
    return [Unsendable(key, problems[key], tuple(sorted(users[key]))) for key in sorted(problems)]
