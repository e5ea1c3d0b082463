"""Configuration, read once from the environment (and from a `.env` file).

Every setting is an environment variable named ``MONITOR_<NAME>``; the defaults make the
embedded mode work with nothing installed: SQLite under ``./var/`` and a broker that is a
SQLite file too. A wrong value stops the program at start-up with one sentence that names the
variable (see :func:`load_settings`), never a traceback.

Secrets (the Slack token, SMTP credentials, dashboard token) are ``SecretStr`` so that they
print as ``**********`` if a settings object ever reaches a log line.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.destinations import AlertSpec, SlackWebhook, parse_destinations
from monitor.errors import ConfigError, first_problem

__all__ = ["Settings", "get_settings", "load_settings", "parse_duration"]

DEFAULT_VAR_DIR = Path("var")

# A shorter HMAC key could be guessed offline from one signed token.
SECRET_KEY_MIN_LENGTH = 32

_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")
_BROKER_SCHEMES = ("sqla+sqlite", "sqla+postgresql", "redis", "rediss", "memory", "amqp")


_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(value: Any) -> int:
    """Seconds from ``172800``, ``"172800"``, ``"90s"``, ``"15m"``, ``"48h"`` or ``"2d"``."""
    if isinstance(value, bool):
        raise ValueError("expected a number of seconds or a duration such as 48h or 2d")
    if isinstance(value, int | float):
        return int(value)
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", str(value).lower())
    if not match:
        raise ValueError(
            f"expected a number of seconds or a duration such as 48h or 2d, not {str(value)!r}"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


class Settings(BaseSettings):
    """All the knobs, with their documented defaults. See README.md, 'Configuration'."""

    model_config = SettingsConfigDict(
        env_prefix="MONITOR_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # -- where things live ------------------------------------------------------------
    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_VAR_DIR}/monitor.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql://user@host/db.",
    )
    broker_url: str = Field(
        default=f"sqla+sqlite:///{DEFAULT_VAR_DIR}/broker.db",
        description="Celery broker: sqla+sqlite:///path (embedded) or redis://host:6379/0.",
    )
    watchlists: Path = Field(default=Path("watchlists"), description="Watchlist directory.")
    feeds: Path = Field(default=Path("feeds.yaml"), description="The feeds file.")
    var_dir: Path = Field(default=DEFAULT_VAR_DIR, description="Local state (SQLite, metrics).")
    metrics_dir: Path | None = Field(
        default=None,
        description="Where worker processes write their metric samples for /metrics "
        "(default: <var_dir>/metrics); a volume every worker and the dashboard share.",
    )

    # -- polling ----------------------------------------------------------------------
    poll_interval: Annotated[int, Field(ge=10)] = 900
    poll_min_interval: Annotated[int, Field(ge=1)] = 60
    poll_max_interval: Annotated[int, Field(ge=60)] = 86_400
    poll_error_backoff_cap: Annotated[int, Field(ge=60)] = 6 * 3600
    # Poll each feed by its own publishing rate (monitor/feeds/rate.py); off, every feed
    # without an interval: in feeds.yaml is polled every poll_interval.
    poll_adaptive: bool = True
    # WebSub (monitor/feeds/websub.py): a feed that names a hub is subscribed when
    # public_url is set, with a callback under it. The lease asked of the hub; when to renew
    # before it ends; how often a feed is still polled while the hub pushes (the fallback).
    websub: bool = True
    websub_lease_seconds: Annotated[int, Field(ge=300)] = 10 * 86_400
    websub_renew_before: Annotated[int, Field(ge=60)] = 86_400
    websub_poll_interval: Annotated[int, Field(ge=60)] = 3600
    fetch_connect_timeout: Annotated[float, Field(gt=0)] = 10.0
    fetch_read_timeout: Annotated[float, Field(gt=0)] = 30.0
    # One deadline for a whole fetch: connecting, every redirect, the headers and the body. The
    # timeouts above apply to each wait on the network; a server that trickles a byte at a
    # time never trips them, and held a worker for over 300 s before this deadline.
    fetch_deadline: Annotated[float, Field(gt=0)] = 70.0
    # The decoded body, and anything inflated from it, at most.
    fetch_max_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    fetch_per_host_limit: Annotated[int, Field(ge=1)] = 2
    allow_private_feeds: bool = False
    user_agent_contact: str = "https://github.com/monitor-news/monitor"
    # What one feed document may cost to read (monitor/feeds/limits.py): the newest entries
    # are kept, the rest counted and shown on the feed. feedparser is pure Python and cannot
    # be interrupted, so these bound its work before it starts.
    feed_max_entries: Annotated[int, Field(ge=1)] = 500
    feed_max_elements: Annotated[int, Field(ge=1000)] = 100_000
    feed_parse_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Seconds from the end of one request to a GDELT source's host to the start of the next,
    # across all workers: GDELT asks for about one request every 5 s (monitor/feeds/pacing.py).
    gdelt_min_gap: Annotated[float, Field(ge=0)] = 5.0

    # -- alerting ---------------------------------------------------------------------
    slack_bot_token: SecretStr | None = None
    slack_base_url: str = "https://slack.com/api/"
    # Slack's interactivity (buttons on alerts): the app's signing secret verifies each
    # request to POST /slack/interactions; an app-level token (xapp-...) turns on Socket Mode,
    # which needs no inbound port.
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    smtp_url: SecretStr | None = None
    email_from: str = "monitor@localhost"
    default_alerts: str = Field(
        default="",
        description="Destinations for watchlists without 'alerts:', e.g. 'slack:#news,email:a@b'.",
    )
    # Where ops messages go (a feed fell silent, or recovered), in the same form.
    ops_alerts: str = Field(
        default="", description="Destinations for ops messages, e.g. 'slack:#ops,email:ops@b'."
    )
    # A feed is silent after this many times its usual gap between items with none.
    feed_silent_factor: Annotated[float, Field(ge=1.5)] = 4.0
    delivery_max_attempts: Annotated[int, Field(ge=1)] = 8
    delivery_backoff_base: Annotated[float, Field(gt=0)] = 30.0
    delivery_backoff_cap: Annotated[float, Field(gt=0)] = 3600.0
    # An article published (else first seen) longer ago than this is recorded and matched,
    # never alerted: a feed that re-lists its archive must not page the desk about 2016.
    alert_max_age: Annotated[int, Field(ge=1)] = 48 * 3600
    # Where people open the dashboard ('https://monitor.example.org'): alerts link to their
    # hit's page there. Without it, alerts carry no link back.
    public_url: str | None = None

    # -- workers and the beat -----------------------------------------------------------
    # How often the beat sends each periodic task (workers/beat.py).
    beat_schedule_seconds: Annotated[float, Field(gt=0)] = 5.0
    beat_sweep_seconds: Annotated[float, Field(gt=0)] = 15.0
    beat_digest_seconds: Annotated[float, Field(gt=0)] = 60.0
    beat_prune_seconds: Annotated[float, Field(gt=0)] = 86_400.0
    beat_websub_seconds: Annotated[float, Field(gt=0)] = 60.0
    # Spike alerts and silent feeds (monitor.trends): both read whole hours, so every few
    # minutes is soon enough.
    beat_trends_seconds: Annotated[float, Field(gt=0)] = 300.0
    # A beat lease not renewed for this long is free for a standby beat; it is renewed every
    # third of it, so the margin covers a slow database and a busy machine.
    beat_lease_ttl: Annotated[float, Field(ge=3)] = 30.0
    # An article still unmatched, or a pending delivery still unsent, this long after its
    # message was sent is presumed to have lost it, and the sweep sends it again.
    sweep_grace_seconds: Annotated[float, Field(ge=0)] = 60.0
    # Redis hands an unacknowledged message to another worker after this long: longer than
    # the slowest task's time limit (300 s), short enough to retry a lost task within minutes.
    broker_visibility_timeout: Annotated[int, Field(ge=1)] = 360

    # -- clustering -------------------------------------------------------------------
    story_window_hours: Annotated[float, Field(gt=0)] = 72.0
    # 0.5 measured: precision 1.00, recall 0.98 on edited real copies (docs/clustering.md).
    cluster_threshold: Annotated[float, Field(gt=0, le=1)] = 0.5

    # -- retention --------------------------------------------------------------------
    retention_days: Annotated[int, Field(ge=1)] = 30

    # -- dashboard --------------------------------------------------------------------
    dashboard_host: str = "127.0.0.1"
    dashboard_port: Annotated[int, Field(ge=0, le=65535)] = 8080
    dashboard_token: SecretStr | None = None
    dashboard_users: SecretStr | None = Field(
        default=None, description="Basic-auth users as 'name:password,name2:password2'."
    )
    dashboard_writes: bool = False
    # Signs the dashboard's CSRF tokens; without it a key is made once in var_dir/secret_key.
    # Set it when several dashboards serve one site, so a form from one is good on another.
    secret_key: SecretStr | None = None

    # -- logging ----------------------------------------------------------------------
    log_level: str = "INFO"
    log_format: str = Field(default="console", pattern="^(console|json)$")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        scheme = _scheme(value)
        if scheme.split("+", 1)[0] not in _DATABASE_SCHEMES:
            raise ValueError(
                f"unsupported scheme {scheme!r}; use sqlite:///path or postgresql://host/db"
            )
        if scheme.startswith("postgres") and not urlsplit(value).path.strip("/"):
            raise ValueError(
                "a PostgreSQL URL must name a database, e.g. postgresql://host/monitor"
            )
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        return value

    @field_validator("broker_url")
    @classmethod
    def _check_broker_url(cls, value: str) -> str:
        scheme = _scheme(value)
        if scheme not in _BROKER_SCHEMES:
            raise ValueError(
                f"unsupported scheme {scheme!r}; use sqla+sqlite:///path or redis://host:6379/0"
            )
        return value

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token")
    @classmethod
    def _blank_token_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        # .env.example leaves it empty ('MONITOR_SLACK_BOT_TOKEN='): that is no token, and is
        # reported as unset (see missing_secret), not sent to Slack to be refused at a hit.
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        # The messages never repeat the value: it holds the SMTP password.
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value().strip()
        scheme = _scheme(url)
        if scheme not in ("smtp", "smtps"):
            raise ValueError(
                f"unsupported scheme {scheme!r}; use smtp://user:pass@host:587 (STARTTLS) "
                "or smtps://user:pass@host:465"
            )
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - urllib checks the port only when asked for it
        except ValueError:
            raise ValueError("the port is not a number") from None
        if not parts.hostname:
            raise ValueError("names no server, e.g. smtp://user:pass@host:587")
        return SecretStr(url)

    @field_validator("dashboard_users")
    @classmethod
    def _check_dashboard_users(cls, value: SecretStr | None) -> SecretStr | None:
        # The messages name the user, never a password.
        if value is None or not value.get_secret_value().strip():
            return None
        for pair in value.get_secret_value().split(","):
            if not pair.strip():
                continue  # a trailing comma
            name, sep, password = pair.strip().partition(":")
            if not sep or not name.strip():
                raise ValueError("expected name:password pairs separated by commas")
            if not password.strip():
                raise ValueError(f"user {name.strip()!r} has an empty password")
        return value

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value().strip()) < SECRET_KEY_MIN_LENGTH:
            raise ValueError(
                f"at least {SECRET_KEY_MIN_LENGTH} characters, e.g. from `openssl rand -hex 32`"
            )
        return SecretStr(value.get_secret_value().strip())

    @field_validator("slack_app_token", mode="after")
    @classmethod
    def _check_slack_app_token(cls, value: SecretStr | None) -> SecretStr | None:
        # Socket Mode takes an app-level token only; a bot token there is a common slip, and
        # Slack's answer to it (not_allowed_token_type) would come only at start.
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("an app-level token starts with 'xapp-' (Basic Information page)")
        return value

    @field_validator("default_alerts", "ops_alerts")
    @classmethod
    def _check_default_alerts(cls, value: str) -> str:
        if not value.strip():
            return value
        try:
            parse_destinations(value)
        except ValidationError as exc:
            where, message = first_problem(exc)
            raise ValueError(f"{where}: {message}") from None
        except ValueError as exc:
            raise ValueError(str(exc).removesuffix(" in MONITOR_DEFAULT_ALERTS")) from None
        return value

    @field_validator("alert_max_age", mode="before")
    @classmethod
    def _check_alert_max_age(cls, value: Any) -> int:
        return parse_duration(value)

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = value.strip()
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - urllib checks the port only when asked for it
        except ValueError:
            raise ValueError(
                "expected the dashboard's address, e.g. https://monitor.example.org"
            ) from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "expected an http:// or https:// URL, e.g. https://monitor.example.org"
            )
        # It is written into every alert: a password or a token in it would travel too.
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not hold a user name or password")
        if parts.query or parts.fragment:
            raise ValueError("must not hold a query (?) or fragment (#)")
        return url.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
        return upper

    # -- derived ----------------------------------------------------------------------
    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
        url = self.database_url
        if url.startswith("postgresql://"):
            return "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url

    @property
    def broker_is_redis(self) -> bool:
        return self.broker_url.startswith(("redis://", "rediss://"))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def metrics_path(self) -> Path:
        """The folder the workers' metric files go in, one subfolder per host."""
        return self.metrics_dir if self.metrics_dir is not None else self.var_dir / "metrics"

    def webhook_url(self, variable: str) -> str:
        """The incoming-webhook URL in environment variable *variable*, or "" when unset.

        A watchlist names the variable (``slack: {webhook: env:VARIABLE}``); the URL is a
        secret, so it never leaves the process environment for a file or the database.
        """
        return os.environ.get(variable, "").strip()

    def missing_secret(self, destination: AlertSpec) -> str | None:
        """Why this process cannot send to *destination*: the variable holding the secret it
        needs is not set. Names the variable, never a value; None when it can send."""
        if isinstance(destination.slack, SlackWebhook):
            variable = destination.slack.env_var
            if not self.webhook_url(variable):
                return f"environment variable {variable} (the webhook URL) is not set"
        elif destination.slack is not None and self.slack_bot_token is None:
            return "MONITOR_SLACK_BOT_TOKEN is not set"
        elif destination.email is not None and self.smtp_url is None:
            return "MONITOR_SMTP_URL is not set"
        return None

    def ensure_dirs(self) -> None:
        """Create the parent folders of the SQLite files (database and broker) if needed."""
        for url in (self.database_url, self.broker_url):
            path = _sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
        self.var_dir.mkdir(parents=True, exist_ok=True)


def _scheme(url: str) -> str:
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if not match:
        raise ValueError("expected a URL such as scheme://...")
    return match.group(1).lower()


def _sqlite_path(url: str) -> Path | None:
    for prefix in ("sqla+sqlite:///", "sqlite+pysqlite:///", "sqlite:///"):
        if url.startswith(prefix):
            rest = url.removeprefix(prefix).split("?", 1)[0]
            return Path(rest) if rest and rest != ":memory:" else None
    return None


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning a validation error into one :class:`ConfigError` sentence."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        where, message = first_problem(exc)
        variable = f"MONITOR_{(where.split('.')[0] or '?').upper()}"
        raise ConfigError(f"{variable}: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests call ``get_settings.cache_clear()`` after changing env)."""
    return load_settings()
