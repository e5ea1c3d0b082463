"""Where a watchlist's alerts go: its ``alerts:`` entries, ``throttle:`` and digest schedules.

Watchlist files are validated against these models (and ``watchlists/schema.json`` is
generated from them), so an analyst's typo is reported with its file and line before any alert
is due. The short forms of the command line and ``MONITOR_DEFAULT_ALERTS`` are parsed here too.
Secrets never appear here: a webhook is named by the environment variable that holds it.

This module needs nothing but pydantic and :mod:`monitor.errors`: the settings validate
``MONITOR_DEFAULT_ALERTS`` with it and the watchlist schema is built from it, without
loading the alerting package.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from typing import Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import first_problem

__all__ = [
    "AlertSpec",
    "DigestSchedule",
    "SlackWebhook",
    "Throttle",
    "WatchlistAlerts",
    "destinations_for",
    "parse_destination",
    "parse_destinations",
    "parse_throttle",
]

_EMAIL = re.compile(r"^[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+$")
_CHANNEL = re.compile(r"^[#@]?[a-z0-9][a-z0-9._-]{0,79}$|^[CGD][A-Z0-9]{6,}$")
_ENV_REF = re.compile(r"^env:([A-Z_][A-Z0-9_]*)$")
_DIGEST = re.compile(r"^(hourly|daily(?:\s+(\d{1,2}):(\d{2}))?(?:\s+(\S+))?)$")
_THROTTLE = re.compile(r"^\s*(\d+)\s*/\s*(minute|hour|day)\s*$")
_PERIODS = {"minute": 60, "hour": 3600, "day": 86400}
# The length of destinations.key in the schema.
MAX_KEY_LENGTH = 300


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    """``hourly``, or ``daily HH:MM Area/City`` (the time zone defaults to UTC)."""

    every: Literal["hourly", "daily"]
    at: time | None = None
    tz: str = "UTC"

    @classmethod
    def parse(cls, text: str) -> DigestSchedule:
        match = _DIGEST.match(text.strip())
        if not match:
            raise ValueError(f"digest must be 'hourly' or 'daily HH:MM Area/City', not {text!r}")
        if match.group(1) == "hourly":
            return cls(every="hourly")
        hour, minute, zone = match.group(2), match.group(3), match.group(4)
        at = time(8, 0)
        if hour is not None:
            if int(hour) > 23 or int(minute) > 59:
                raise ValueError(f"digest time {hour}:{minute} is not a time of day")
            at = time(int(hour), int(minute))
        tz = zone or "UTC"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: an area alone ('Africa') is a directory of the zone database, and
            # ZoneInfo raises IsADirectoryError for it (or 'File name too long').
            raise ValueError(
                f"unknown time zone {tz!r} (use an IANA name like Africa/Lagos)"
            ) from None
        return cls(every="daily", at=at, tz=tz)


@dataclass(frozen=True, slots=True)
class Throttle:
    """At most ``limit`` instant alerts per ``period_seconds`` for one watchlist."""

    limit: int
    period_seconds: int
    text: str


def parse_throttle(text: str) -> Throttle:
    match = _THROTTLE.match(text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(
            f"throttle must look like '10/hour' (per minute, hour or day), not {text!r}"
        )
    return Throttle(int(match.group(1)), _PERIODS[match.group(2)], text.strip())


class SlackWebhook(BaseModel):
    """An incoming webhook, named by the environment variable that holds its URL."""

    model_config = ConfigDict(extra="forbid")

    webhook: str = Field(
        description="env:VARIABLE naming the webhook URL, e.g. env:SLACK_WEBHOOK_ASIA"
    )

    @field_validator("webhook")
    @classmethod
    def _env_only(cls, value: str) -> str:
        if not _ENV_REF.match(value):
            raise ValueError(
                "a webhook must be given as env:VARIABLE (the URL is a secret and stays "
                "in the environment)"
            )
        return value

    @property
    def env_var(self) -> str:
        return self.webhook.removeprefix("env:")


class AlertSpec(BaseModel):
    """One destination of a watchlist's alerts: exactly one of slack, email or console."""

    model_config = ConfigDict(extra="forbid")

    slack: str | SlackWebhook | None = Field(
        default=None, description="'#channel' (bot token) or {webhook: env:VARIABLE}"
    )
    email: list[str] | None = Field(default=None, description="Recipient addresses.")
    console: bool | None = Field(default=None, description="Write alerts to the log.")
    digest: str | None = Field(
        default=None, description="Omit for instant alerts; 'hourly' or 'daily 08:00 Africa/Lagos'."
    )

    @field_validator("email", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("email needs at least one address")
            for address in value:
                if not _EMAIL.match(address):
                    raise ValueError(f"{address!r} is not an email address")
        return value

    @field_validator("slack", mode="before")
    @classmethod
    def _webhook_or_channel(cls, value: object) -> object:
        # A mapping can only be a webhook: checked as one here, a mistake in it is one error,
        # not also a second 'should be a valid string' from the other half of the union.
        if isinstance(value, dict):
            try:
                return SlackWebhook.model_validate(value)
            except ValidationError as exc:
                where, message = first_problem(exc)
                raise ValueError(f"{where}: {message}" if where else message) from None
        return value

    @field_validator("slack")
    @classmethod
    def _channel(cls, value: str | SlackWebhook | None) -> str | SlackWebhook | None:
        if isinstance(value, str) and "://" in value:
            # Most likely a webhook URL pasted in: it is a secret, so the message must not
            # repeat it (it would reach the logs, the CLI and the dashboard).
            raise ValueError(
                "a URL is not a Slack channel; for an incoming webhook write "
                "{webhook: env:VARIABLE} and put the URL in that environment variable"
            )
        if isinstance(value, str) and not _CHANNEL.match(value):
            raise ValueError(
                f"{value!r} is not a Slack channel such as '#news-desk' or a channel id"
            )
        return value

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None:
            DigestSchedule.parse(value)
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> AlertSpec:
        given = [n for n in ("slack", "email", "console") if getattr(self, n) not in (None, False)]
        if len(given) != 1:
            raise ValueError("each alert needs exactly one of 'slack', 'email' or 'console'")
        if len(self.key) > MAX_KEY_LENGTH:
            # The key is stored (destinations.key); past this it would not fit.
            raise ValueError(
                f"this destination's address list is longer than {MAX_KEY_LENGTH} characters; "
                "split the addresses over two email alerts"
            )
        return self

    @property
    def channel(self) -> str:
        """The channel module that sends it: slack, webhook, email or console."""
        if isinstance(self.slack, SlackWebhook):
            return "webhook"
        if self.slack is not None:
            return "slack"
        if self.email is not None:
            return "email"
        return "console"

    @property
    def key(self) -> str:
        """The destination's stable key (see docs/architecture.md); never holds a secret."""
        if isinstance(self.slack, SlackWebhook):
            return f"webhook:{self.slack.env_var}"
        if self.slack is not None:
            return f"slack:{self.slack}"
        if self.email is not None:
            return "email:" + ",".join(sorted(a.lower() for a in self.email))
        return "console"

    @property
    def schedule(self) -> DigestSchedule | None:
        return DigestSchedule.parse(self.digest) if self.digest else None


def parse_destination(text: str) -> AlertSpec:
    """Parse a short form used on the command line and in MONITOR_DEFAULT_ALERTS:
    ``slack:#desk``, ``webhook:ENV_VAR``, ``email:a@x.org`` or ``console``."""
    kind, _, rest = text.strip().partition(":")
    if kind == "slack":
        return AlertSpec(slack=rest)
    if kind == "webhook":
        return AlertSpec(slack=SlackWebhook(webhook=f"env:{rest.removeprefix('env:')}"))
    if kind == "email":
        return AlertSpec(email=[a.strip() for a in rest.split(",") if a.strip()])
    if kind == "console":
        return AlertSpec(console=True)
    raise ValueError(
        f"unknown destination {text!r}: use slack:#channel, webhook:ENV_VAR, email:addr or console"
    )


def parse_destinations(text: str) -> list[AlertSpec]:
    """``MONITOR_DEFAULT_ALERTS``: ``slack:#news,email:a@x.org,b@y.org,console``.

    Commas separate destinations, except that the addresses after ``email:`` run on until the
    next ``slack:``/``webhook:``/``email:``/``console``."""
    groups: list[str] = []
    for part in (t.strip() for t in text.split(",")):
        if not part:
            continue
        if part.startswith(("slack:", "webhook:", "email:")) or part == "console":
            groups.append(part)
        elif groups and groups[-1].startswith("email:"):
            groups[-1] += "," + part
        else:
            raise ValueError(f"unknown destination {part!r} in MONITOR_DEFAULT_ALERTS")
    return [parse_destination(group) for group in groups]


class WatchlistAlerts(Protocol):
    """What alerting reads of a watchlist (``monitor.watchlists.WatchlistSpec`` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def alerts(self) -> Sequence[AlertSpec]: ...
    @property
    def throttle(self) -> str | None: ...
    @property
    def escalate_at(self) -> int | None: ...


def destinations_for(watchlist: WatchlistAlerts | None, default_alerts: str) -> list[AlertSpec]:
    """The watchlist's own ``alerts:``, else *default_alerts* (``MONITOR_DEFAULT_ALERTS``),
    else the console; each destination once per schedule."""
    alerts = list(watchlist.alerts) if watchlist is not None and watchlist.alerts else []
    if not alerts and default_alerts.strip():
        alerts = parse_destinations(default_alerts)
    if not alerts:
        alerts = [AlertSpec(console=True)]
    unique: dict[tuple[str, str | None], AlertSpec] = {}
    for alert in alerts:
        unique.setdefault((alert.key, alert.digest), alert)
    return list(unique.values())
