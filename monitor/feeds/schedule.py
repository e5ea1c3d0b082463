"""When to poll a feed next.

After a successful poll the next one is due after the feed's interval (``interval`` in
feeds.yaml, else the adaptive interval that follows the feed's publishing rate,
:mod:`monitor.feeds.rate`, else ``MONITOR_POLL_INTERVAL``), or later when the publisher
asks for it with ``Cache-Control: max-age``, ``Expires`` or RSS ``<ttl>``; the result is kept within
``MONITOR_POLL_MIN_INTERVAL`` and ``MONITOR_POLL_MAX_INTERVAL``.

After a 429 or 503 with ``Retry-After`` we wait exactly as long as asked (within the same
bounds). After any other error we back off exponentially from the interval, with ±20% jitter
so that feeds that failed together do not retry together, up to
``MONITOR_POLL_ERROR_BACKOFF_CAP``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from monitor.config import Settings
from monitor.feeds.rate import adaptive_interval

__all__ = ["error_delay", "parse_retry_after", "server_hint_seconds", "success_delay"]

JITTER = 0.2
_RNG = random.Random()


def success_delay(
    *,
    settings: Settings,
    interval: int | None,
    headers: Mapping[str, str] | None = None,
    ttl_seconds: int | None = None,
    now: datetime,
    items_per_day: float | None = None,
    pushed_until: datetime | None = None,
) -> float:
    if interval:
        base = float(interval)
    elif not settings.poll_adaptive:
        base = float(settings.poll_interval)
    else:
        base = adaptive_interval(items_per_day, poll_interval=float(settings.poll_interval))
    if pushed_until is not None and pushed_until > now:
        # The hub pushes what is new: polling is only the fallback, in case a push is lost.
        base = max(base, float(settings.websub_poll_interval))
    hint = server_hint_seconds(headers or {}, ttl_seconds=ttl_seconds, now=now)
    delay = max(base, hint or 0.0)
    return _bounded(delay, settings)


def error_delay(
    *,
    settings: Settings,
    interval: int | None,
    error_streak: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    if retry_after is not None:
        return _bounded(retry_after, settings)
    base = float(interval or settings.poll_interval)
    streak = max(1, error_streak)
    raw = base * 2.0 ** min(streak - 1, 20)
    jitter = (rng or _RNG).uniform(1 - JITTER, 1 + JITTER)
    delay = min(raw * jitter, float(settings.poll_error_backoff_cap))
    return max(delay, float(settings.poll_min_interval))


def server_hint_seconds(
    headers: Mapping[str, str], *, ttl_seconds: int | None, now: datetime
) -> float | None:
    """The longest of max-age, Expires and ttl: the publisher says nothing changes before it."""
    lower = {k.lower(): v for k, v in headers.items()}
    hints: list[float] = []
    max_age = _max_age(lower.get("cache-control", ""))
    if max_age is not None:
        hints.append(max_age)
    elif "expires" in lower:
        # max-age wins over Expires when both are present (RFC 9111, 5.3).
        when = _http_date(lower["expires"])
        if when is not None:
            hints.append(max(0.0, (when - now).total_seconds()))
    if ttl_seconds:
        hints.append(float(ttl_seconds))
    return max(hints) if hints else None


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    return max(0.0, (when - now).total_seconds())


def next_poll_at(now: datetime, delay: float) -> datetime:
    return now + timedelta(seconds=delay)


def _bounded(delay: float, settings: Settings) -> float:
    return min(max(delay, float(settings.poll_min_interval)), float(settings.poll_max_interval))


_MAX_AGE = re.compile(r"(?:^|[,\s])(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def _max_age(cache_control: str) -> float | None:
    if not cache_control:
        return None
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return None
    match = _MAX_AGE.search(cache_control)
    return float(match.group(1)) if match else None


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
