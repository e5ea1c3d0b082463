"""Polling one feed, top to bottom.

:func:`poll_feed` tells the whole story in order: claim the feed so no other worker polls it at
the same time, fetch it politely (conditional GET, per-host limit), read the status, parse,
normalise, store only what is new, fetch full text for the new articles if the feed asks for
it, record the poll state and when to come back, release the claim and commit.
"""

from __future__ import annotations

import calendar
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.feeds import schedule
from monitor.feeds.fetcher import PAGE_ACCEPT, FetchError, FetchResult, fetch
from monitor.feeds.fulltext import extract_main_text
from monitor.feeds.hostlimit import HostBusy, host_slot
from monitor.feeds.normalise import articles_from_parsed
from monitor.feeds.parser import ParsedFeed, parse_feed
from monitor.feeds.store import store_articles
from monitor.logs import get_logger
from monitor.metrics import ARTICLES_INGESTED, POLLS
from monitor.models import Article, Feed, utcnow

__all__ = ["PollOutcome", "claim_feed", "due_feed_ids", "poll_feed", "release_feed"]

log = get_logger(__name__)

Outcome = Literal["new", "unchanged", "error", "not_a_feed", "skipped", "disabled"]

# How long a claim protects a poll. A worker that dies mid-poll leaves a claim that the next
# worker may take over after this long.
CLAIM_SECONDS = 600
# Full-text pages fetched per poll at most: a feed that suddenly lists 500 new items must not
# hold its claim (and its publisher) for an hour. The rest keep the feed's own text.
FULLTEXT_PER_POLL = 30
GONE_REASON = "gone: the server answered 410"
_FEEDS: Table = Feed.__table__  # type: ignore[assignment]


@dataclass(slots=True)
class PollOutcome:
    feed_id: int
    outcome: Outcome
    new_article_ids: list[int] = field(default_factory=list)
    http_status: int | None = None
    error: str | None = None

    def __str__(self) -> str:
        if self.outcome == "new":
            return f"new {len(self.new_article_ids)}"
        if self.error:
            return f"{self.outcome}: {self.error}"
        return self.outcome


def due_feed_ids(session: Session, *, now: datetime, limit: int = 500) -> list[int]:
    """Enabled feeds whose next poll is due (never polled first), not claimed by a worker."""
    rows = session.execute(
        select(Feed.id)
        .where(
            Feed.enabled.is_(True),
            or_(Feed.next_poll_at.is_(None), Feed.next_poll_at <= now),
            or_(Feed.claim_token.is_(None), Feed.claimed_until < now),
        )
        .order_by(Feed.next_poll_at.is_not(None), Feed.next_poll_at, Feed.id)
        .limit(limit)
    )
    return [int(feed_id) for feed_id in rows.scalars()]


def claim_feed(session: Session, feed_id: int, *, now: datetime) -> str | None:
    """Compare-and-set claim: the token if this worker now holds the feed, else None."""
    token = secrets.token_hex(16)
    # Core statements on the table: the ORM's bulk-update machinery costs more than the
    # UPDATE itself, and this runs twice per poll.
    result = session.execute(
        update(_FEEDS)
        .where(
            _FEEDS.c.id == feed_id,
            _FEEDS.c.enabled.is_(True),
            or_(_FEEDS.c.claim_token.is_(None), _FEEDS.c.claimed_until < now),
        )
        .values(claim_token=token, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    )
    session.commit()
    return token if getattr(result, "rowcount", 0) == 1 else None


def release_feed(session: Session, feed_id: int, token: str) -> None:
    session.flush()
    session.execute(
        update(_FEEDS)
        .where(and_(_FEEDS.c.id == feed_id, _FEEDS.c.claim_token == token))
        .values(claim_token=None, claimed_until=None)
    )


def poll_feed(
    session: Session, feed_id: int, *, settings: Settings, now: datetime | None = None
) -> PollOutcome:
    """Poll one feed now and store what is new. Never raises for a problem with the feed."""
    now = now or utcnow()
    token = claim_feed(session, feed_id, now=now)
    if token is None:
        feed = session.get(Feed, feed_id, populate_existing=True)
        outcome: PollOutcome = PollOutcome(
            feed_id, "disabled" if feed is None or not feed.enabled else "skipped"
        )
        POLLS.labels(outcome=outcome.outcome).inc()
        return outcome

    started = time.monotonic()
    try:
        feed = session.get_one(Feed, feed_id, populate_existing=True)
        outcome = _poll(session, feed, settings=settings, now=now)
    except Exception as exc:
        # One bad feed never stops the others: whatever went wrong is recorded on the feed.
        session.rollback()
        log.exception("poll failed", feed=feed_id)
        feed = session.get_one(Feed, feed_id, populate_existing=True)
        message = f"{type(exc).__name__}: {exc}"
        _record_error(feed, settings=settings, now=now, status=None, message=message)
        outcome = PollOutcome(feed_id, "error", error=message)
    if time.monotonic() - started < CLAIM_SECONDS / 2:
        # Our claim cannot have expired yet, so nobody else can hold the feed: release it in
        # the same UPDATE that writes the poll state (one statement less per poll).
        feed.claim_token = None
        feed.claimed_until = None
    else:
        release_feed(session, feed_id, token)
    session.commit()

    POLLS.labels(outcome=outcome.outcome).inc()
    if outcome.new_article_ids:
        ARTICLES_INGESTED.inc(len(outcome.new_article_ids))
    log.info(
        "feed polled",
        feed=feed_id,
        outcome=outcome.outcome,
        new=len(outcome.new_article_ids),
        status=outcome.http_status,
        error=outcome.error,
        seconds=round(time.monotonic() - started, 3),
    )
    return outcome


def _poll(session: Session, feed: Feed, *, settings: Settings, now: datetime) -> PollOutcome:
    # 1. Fetch, with the validators from last time, inside one of the host's slots.
    host = urlsplit(feed.url).hostname or ""
    try:
        with host_slot(host, settings=settings):
            result = fetch(
                feed.url, settings=settings, etag=feed.etag, last_modified=feed.last_modified
            )
    except HostBusy as exc:
        # Not the feed's fault: try again soon, without counting an error.
        feed.next_poll_at = now + timedelta(seconds=settings.poll_min_interval)
        return PollOutcome(feed.id, "skipped", error=str(exc))
    except FetchError as exc:
        _record_error(feed, settings=settings, now=now, status=exc.status, message=exc.message)
        return PollOutcome(feed.id, "error", error=exc.message)

    feed.last_polled_at = now
    feed.last_status = result.status

    # 2. A chain of permanent redirects moves the feed for good.
    if result.permanent_url and result.permanent_url != feed.url:
        _move(session, feed, result.permanent_url)

    # 3. What the status says.
    if result.status == 304:
        _record_success(feed, result, settings=settings, now=now, new=0, parsed=None)
        return PollOutcome(feed.id, "unchanged", http_status=304)
    if result.status == 410:
        feed.enabled = False
        feed.disabled_reason = GONE_REASON
        _record_error(feed, settings=settings, now=now, status=410, message=GONE_REASON)
        return PollOutcome(feed.id, "error", http_status=410, error=GONE_REASON)
    if result.status in (429, 503):
        retry_after = schedule.parse_retry_after(result.headers.get("retry-after"), now=now)
        message = f"HTTP {result.status}" + (
            f", retry after {int(retry_after)}s" if retry_after is not None else ""
        )
        _record_error(
            feed,
            settings=settings,
            now=now,
            status=result.status,
            message=message,
            retry_after=retry_after,
        )
        return PollOutcome(feed.id, "error", http_status=result.status, error=message)
    if result.status != 200:
        message = f"HTTP {result.status}"
        _record_error(feed, settings=settings, now=now, status=result.status, message=message)
        return PollOutcome(feed.id, "error", http_status=result.status, error=message)

    # 4. Parse; a page that is not a feed is an error, not a feed with zero items.
    parsed = parse_feed(result.body, headers=result.headers)
    if not parsed.is_feed:
        content_type = result.headers.get("content-type", "no Content-Type")
        message = f"not a feed ({content_type.split(';')[0].strip()})"
        _record_error(feed, settings=settings, now=now, status=200, message=message)
        return PollOutcome(feed.id, "not_a_feed", http_status=200, error=message)

    # 5. Normalise and store only what is new.
    articles = articles_from_parsed(parsed, url=feed.url, now=now, scope=f"feed:{feed.id}")
    new_ids = store_articles(session, feed.id, articles, now=now)

    # 6. Full text for the new articles, under the same politeness rules.
    if feed.fulltext and new_ids:
        _fetch_full_text(session, new_ids, settings=settings)

    _record_success(feed, result, settings=settings, now=now, new=len(new_ids), parsed=parsed)
    return PollOutcome(feed.id, "new" if new_ids else "unchanged", new_ids, http_status=200)


def _move(session: Session, feed: Feed, new_url: str) -> None:
    taken = session.execute(select(Feed.id).where(Feed.url == new_url)).scalar_one_or_none()
    if taken is not None:
        log.warning("permanent redirect to a feed we already have", feed=feed.id, url=new_url)
        return
    log.info("feed moved permanently", feed=feed.id, old=feed.url, new=new_url)
    feed.url = new_url


def _record_success(
    feed: Feed,
    result: FetchResult,
    *,
    settings: Settings,
    now: datetime,
    new: int,
    parsed: ParsedFeed | None,
) -> None:
    if result.status == 200:
        # Validators are replaced (or cleared) by each full response.
        feed.etag = result.headers.get("etag")
        feed.last_modified = result.headers.get("last-modified")
    elif result.headers.get("etag"):
        feed.etag = result.headers["etag"]
    if parsed is not None:
        feed.title = parsed.title or feed.title
        feed.site_url = parsed.site_url or feed.site_url
        feed.language = parsed.language or feed.language
        feed.ttl_seconds = parsed.ttl_seconds
        feed.items_per_day = _items_per_day(parsed) or feed.items_per_day
        feed.last_new_items = new
        # A malformed feed whose entries could be recovered: polled, but the problem is shown.
        feed.last_error = parsed.problem
    else:
        feed.last_error = None
    feed.last_success_at = now
    feed.error_streak = 0
    delay = schedule.success_delay(
        settings=settings,
        interval=feed.interval_seconds,
        headers=result.headers,
        ttl_seconds=feed.ttl_seconds,
        now=now,
    )
    feed.next_poll_at = now + timedelta(seconds=delay)


def _record_error(
    feed: Feed,
    *,
    settings: Settings,
    now: datetime,
    status: int | None,
    message: str,
    retry_after: float | None = None,
) -> None:
    feed.last_polled_at = now
    feed.last_status = status
    feed.last_error = message[:1000]
    feed.error_streak = (feed.error_streak or 0) + 1
    delay = schedule.error_delay(
        settings=settings,
        interval=feed.interval_seconds,
        error_streak=feed.error_streak,
        retry_after=retry_after,
    )
    feed.next_poll_at = now + timedelta(seconds=delay)


def _items_per_day(parsed: ParsedFeed) -> float | None:
    stamps: list[float] = []
    for entry in parsed.entries:
        value: Any = entry.get("published_parsed") or entry.get("updated_parsed")
        if value:
            try:
                stamps.append(float(calendar.timegm(value)))
            except (OverflowError, ValueError, TypeError):
                continue
    if len(stamps) < 2:
        return None
    span_days = max(max(stamps) - min(stamps), 3600.0) / 86400
    return round((len(stamps) - 1) / span_days, 2)


def _fetch_full_text(session: Session, article_ids: list[int], *, settings: Settings) -> None:
    articles = session.execute(select(Article).where(Article.id.in_(article_ids))).scalars()
    for index, article in enumerate(articles):
        if not article.url:
            article.fulltext_error = "no link to fetch"
            continue
        if index >= FULLTEXT_PER_POLL:
            article.fulltext_error = f"skipped: more than {FULLTEXT_PER_POLL} new articles"
            continue
        try:
            with host_slot(urlsplit(article.url).hostname or "", settings=settings):
                page = fetch(article.url, settings=settings, accept=PAGE_ACCEPT)
        except (FetchError, HostBusy) as exc:
            article.fulltext_error = str(exc)[:1000]
            continue
        if page.status != 200:
            article.fulltext_error = f"HTTP {page.status}"
            continue
        text = extract_main_text(_decode(page), url=page.url)
        if not text:
            article.fulltext_error = "no main text found on the page"
            continue
        article.content = text
        article.fulltext_error = None


def _decode(page: FetchResult) -> str:
    content_type = page.headers.get("content-type", "")
    charset = "utf-8"
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip("\"' ")
    try:
        return page.body.decode(charset, "replace")
    except LookupError:
        return page.body.decode("utf-8", "replace")
