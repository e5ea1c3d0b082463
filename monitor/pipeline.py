"""The pipeline, one readable function per stage: schedule → poll → match → store → alert.

The same functions run in two ways. Celery tasks (``workers/tasks.py``) call one stage each
with ids, so the stages scale apart on their own queues; :func:`run_once` calls them all in
this process, one after the other, for ``monitor run --once``, cron users and smoke tests.

Nothing here is lost when a process dies, because every queue is a table first and a message
second: a feed is due while ``next_poll_at`` has passed, an article waits for the matcher
while ``matched_at`` is NULL, and a delivery waits in the outbox until its status says sent.
Messages only make the work start sooner; the sweeps (:func:`pending_article_ids`, the
alerting module's ``due_delivery_ids``) find whatever a killed worker dropped.

Each stage is idempotent. Matching claims an article with a compare-and-set on
``matched_at`` in the same transaction that stores its hits and deliveries, so a redelivered
task either finds the work done or redoes all of it, never half.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, exists, func, select
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from monitor.alerts.batch import record_batch
from monitor.alerts.send import deliver
from monitor.alerts.sweep import due_delivery_ids, open_due_digests
from monitor.bulk import update_rows
from monitor.cas import claim_rows
from monitor.clustering import assign_story
from monitor.clustering.batch import OneByOne, assign_stories
from monitor.config import Settings
from monitor.db import session_scope
from monitor.documents import (
    carried_feeds,
    recent_documents,
    settle_languages,
    stored_document,
)
from monitor.feeds import PollOutcome, due_feed_ids, poll_feed, sync_feeds
from monitor.logs import get_logger
from monitor.metrics import QUEUE_LAG
from monitor.models import Article, ArticleFeed, Delivery, Feed, Hit, HitArticle, Story, utcnow
from monitor.redaction import scrub
from monitor.states import READY_TO_SEND, DeliveryStatus
from monitor.trends.polls import count_poll
from monitor.trends.rollup import roll_up
from monitor.trends.silence import check_silent_feeds
from monitor.trends.spike_alerts import check_spikes
from monitor.watchlists import WatchlistRegistry, sync_watchlists

__all__ = [
    "CycleSummary",
    "deliveries_to_resend",
    "feed_labels",
    "match_articles",
    "pending_article_ids",
    "prune",
    "queue_lag",
    "run_once",
    "schedule_due_feeds",
]

log = get_logger(__name__)

# How many due feeds one scheduling tick hands out; the rest wait for the next tick, a few
# seconds later, so one huge backlog never becomes one huge burst of messages.
SCHEDULE_BATCH = 500
# Articles per match message: a whole poll (a feed document gives at most 500 entries), so
# that a poll's articles cost one transaction and a fixed number of statements.
MATCH_BATCH = 500
SWEEP_LIMIT = 1000

_ARTICLES = cast(Table, Article.__table__)


# -- schedule ----------------------------------------------------------------------------


def schedule_due_feeds(session: Session, *, settings: Settings, now: datetime) -> list[int]:
    """Bring the feeds table in line with feeds.yaml, then return the ids of the due feeds."""
    sync_feeds(session, settings)
    session.commit()
    return list(due_feed_ids(session, now=now, limit=SCHEDULE_BATCH))


def new_article_ids(outcome: PollOutcome) -> list[int]:
    """The ids of the articles a poll stored for the first time."""
    return [int(i) for i in outcome.new_article_ids]


# -- match -------------------------------------------------------------------------------


def match_articles(
    session: Session,
    article_ids: Iterable[int],
    *,
    registry: WatchlistRegistry,
    settings: Settings,
    now: datetime,
) -> list[int]:
    """Match each article once; store hits and deliveries; return the deliveries to send now.

    The whole batch is one transaction, in a fixed number of statements however many articles
    it holds: claim them (on PostgreSQL by locking their unmatched rows as they are read, see
    :func:`_claim_by_lock`; on SQLite, and one article at a time, ``matched_at`` from NULL to
    *now*, one compare-and-set for all; the articles another worker has, or that are done,
    are simply not returned), give them
    stories, match them, record the hits and their deliveries, commit. A worker killed before
    the commit leaves every article unmatched for the sweep; one killed after it leaves
    nothing to redo.

    When the batch fails (one broken article, or a case only the one-article story path
    handles) it is rolled back whole and its articles are matched one at a time, each in its
    own transaction, so one broken article never stops the others; it stays unmatched for the
    sweep, with its error in the log.
    """
    ids = list(dict.fromkeys(int(i) for i in article_ids))
    if not ids:
        return []
    try:
        delivery_ids = _match_batch(session, ids, registry=registry, settings=settings, now=now)
        session.commit()
        return delivery_ids
    except Exception as exc:
        session.rollback()
        if len(ids) == 1 and not isinstance(exc, OneByOne):
            log.exception("matching an article failed", article_id=ids[0])
            return []
        log.warning(
            "matching a batch failed; matching its articles one at a time",
            articles=len(ids),
            # One line: a database error would go on with its statement and parameters.
            error=scrub(f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"),
        )
    delivery_ids = []
    for article_id in ids:
        try:
            delivery_ids.extend(
                _match_batch(
                    session, [article_id], registry=registry, settings=settings, now=now, one=True
                )
            )
            session.commit()
        except Exception:
            session.rollback()
            log.exception("matching an article failed", article_id=article_id)
    return delivery_ids


def _match_batch(
    session: Session,
    ids: list[int],
    *,
    registry: WatchlistRegistry,
    settings: Settings,
    now: datetime,
    one: bool = False,
) -> list[int]:
    """One batch in the caller's transaction (no commit). *one*: the one-article story path,
    which settles a claim lost to another worker by joining its story."""
    if one or session.get_bind().dialect.name != "postgresql":
        loaded = _claim_then_load(session, ids, now=now)
        claimed_at = None
    else:
        loaded = _claim_by_lock(session, ids)
        claimed_at = now
    if not loaded:
        return []
    by_id = {article.id: article for article in loaded}
    articles = [by_id[i] for i in ids if i in by_id]
    columns = settle_languages(articles)
    if one:
        for article in articles:
            assign_story(session, article, settings=settings, now=now)
    else:
        assign_stories(session, articles, settings=settings, now=now)
        for article in articles:
            columns[article.id]["story_id"] = article.story_id
    if claimed_at is not None:
        for article in articles:
            columns[article.id]["matched_at"] = claimed_at
            set_committed_value(article, "matched_at", claimed_at)
    # Every column the batch decided for its articles, in one statement.
    update_rows(
        session, _ARTICLES, [{"id": article_id, **row} for article_id, row in columns.items()]
    )
    carried = carried_feeds(session, articles)
    matched = [
        (article, registry.matcher.match(stored_document(article, carried[article.id])))
        for article in articles
    ]
    delivery_ids = record_batch(
        session, matched, watchlists=registry.specs, settings=settings, now=now
    )
    hits: dict[str, list[int]] = {}
    for article, results in matched:
        for result in results:
            hits.setdefault(result.watchlist_id, []).append(article.id)
    if hits:
        # One line per batch, naming each watchlist's matched articles: at thousands of
        # articles a second, a line per article cost as much as matching them.
        log.info("articles matched", articles=len(articles), matched=dict(sorted(hits.items())))
    return delivery_ids


def _claim_then_load(session: Session, ids: list[int], *, now: datetime) -> Sequence[Article]:
    """Claim the unmatched articles of *ids* with one compare-and-set (``matched_at`` from
    NULL to *now*), then load those this transaction won."""
    claimed = claim_rows(
        session,
        Article,
        Article.id,
        Article.id.in_(ids),
        Article.matched_at.is_(None),
        matched_at=now,
    )
    if not claimed:
        return []
    return session.scalars(
        select(Article)
        .where(Article.id.in_(sorted(claimed)))
        .options(lazyload(Article.source_feed))  # read by carried_feeds (_claim_by_lock)
        .execution_options(populate_existing=True)
    ).all()


def _claim_by_lock(session: Session, ids: list[int]) -> Sequence[Article]:
    """PostgreSQL: claim and load the unmatched articles of *ids* in one statement, by locking
    their rows (``FOR NO KEY UPDATE SKIP LOCKED``) instead of writing them.

    The lock is the claim: another worker's batch skips the rows this transaction holds, and
    finds them matched once it commits, because ``matched_at`` is written in the batch's one
    UPDATE of its articles. A worker killed before the commit releases the locks with its
    connection and leaves the articles unmatched for the sweep. Each row is written once
    instead of twice (the claim, then the batch's columns). The one-article fallback's
    compare-and-set does not skip: it waits for such a batch to end, then finds the article
    matched, or claims it."""
    return session.scalars(
        select(Article)
        .where(Article.id.in_(ids), Article.matched_at.is_(None))
        # Not joined to every row: its feed is read once by carried_feeds (every article is
        # linked to the feed that stored it), where source_name finds it.
        .options(lazyload(Article.source_feed))
        # NO KEY UPDATE: a poll that links one of these articles to another feed checks the
        # foreign key with a KEY SHARE lock, which FOR UPDATE would make wait for the batch.
        .with_for_update(skip_locked=True, key_share=True, of=Article)
        .execution_options(populate_existing=True)
    ).all()


def pending_article_ids(
    session: Session, *, older_than: datetime, limit: int = SWEEP_LIMIT
) -> list[int]:
    """Articles stored before *older_than* and still unmatched: their match task was lost."""
    rows = session.execute(
        select(Article.id)
        .where(Article.matched_at.is_(None), Article.first_seen_at < older_than)
        .order_by(Article.id)
        .limit(limit)
    ).scalars()
    return list(rows)


def deliveries_to_resend(
    session: Session, delivery_ids: Sequence[int], *, now: datetime, grace: timedelta
) -> list[int]:
    """Of the due deliveries, those whose message is presumed lost.

    A ``pending`` delivery got its message when it was created (or its digest opened), so it
    is re-sent only once it has waited longer than *grace*: under a backlog, re-sending every
    due delivery on every sweep would bury the queue in copies. A ``retrying`` one has no
    message at all (tasks never retry themselves), so it is sent as soon as it is due. Nor
    has a ``pending`` one that carries an error: it failed before and a person queued it
    again (``monitor alerts retry``, the dashboard's retry button), and a retry someone asked
    for should go out at the next sweep, not a grace period later.
    """
    if not delivery_ids:
        return []
    became_due = func.coalesce(Delivery.next_attempt_at, Delivery.created_at)
    has_message = (Delivery.status == DeliveryStatus.PENDING) & Delivery.last_error.is_(None)
    rows = session.execute(
        select(Delivery.id)
        .where(Delivery.id.in_(list(delivery_ids)))
        .where(~has_message | (became_due < now - grace))
        .order_by(Delivery.id)
    ).scalars()
    return list(rows)


def batches(ids: Sequence[int], size: int = MATCH_BATCH) -> list[list[int]]:
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


# -- housekeeping ------------------------------------------------------------------------


def prune(session: Session, *, settings: Settings, now: datetime) -> int:
    """Delete articles older than ``retention_days`` that no hit refers to, and the stories
    left empty; return how many articles.

    Articles with hits are the record of what was alerted and stay; their feed links go with
    the article (ON DELETE CASCADE).
    """
    cutoff = now - timedelta(days=settings.retention_days)
    has_hit = exists().where(Hit.article_id == Article.id)
    attached = exists().where(HitArticle.article_id == Article.id)
    victims = select(Article.id).where(Article.first_seen_at < cutoff, ~has_hit, ~attached)
    ids = list(session.execute(victims).scalars())
    for chunk in batches(ids, 500):
        session.execute(
            delete(ArticleFeed)
            .where(ArticleFeed.article_id.in_(chunk))
            .execution_options(synchronize_session=False)
        )
        session.execute(
            delete(Article)
            .where(Article.id.in_(chunk))
            .execution_options(synchronize_session=False)
        )
    # Stories go once nothing points at them any more and they are out of every worker's
    # window (a worker's in-memory index may still offer a story from inside its window);
    # their claims on MinHash values go with them (ON DELETE CASCADE).
    story_cutoff = min(cutoff, now - timedelta(hours=settings.story_window_hours))
    stories: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(Story)
        .where(
            Story.first_seen_at < story_cutoff,
            ~exists().where(Article.story_id == Story.id),
            ~exists().where(Hit.story_id == Story.id),
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    log.info(
        "pruned old articles",
        count=len(ids),
        stories=stories.rowcount,
        older_than=cutoff.isoformat(),
    )
    return len(ids)


def queue_lag(session: Session, *, now: datetime) -> dict[str, float]:
    """Age in seconds of the oldest due work of each kind; also sets the ``QUEUE_LAG`` gauge.

    A feed is late from its ``next_poll_at``, an article from when it was stored, a delivery
    from when it became due. Zero means nothing is waiting.
    """
    oldest_feed = session.execute(
        select(func.min(Feed.next_poll_at)).where(Feed.enabled.is_(True), Feed.next_poll_at <= now)
    ).scalar()
    oldest_article = session.execute(
        select(func.min(Article.first_seen_at)).where(Article.matched_at.is_(None))
    ).scalar()
    oldest_delivery = session.execute(
        select(func.min(func.coalesce(Delivery.next_attempt_at, Delivery.created_at))).where(
            Delivery.status.in_(READY_TO_SEND),
            func.coalesce(Delivery.next_attempt_at, Delivery.created_at) <= now,
        )
    ).scalar()
    lag = {
        "feeds": _age(oldest_feed, now),
        "articles": _age(oldest_article, now),
        "deliveries": _age(oldest_delivery, now),
    }
    for kind, seconds in lag.items():
        QUEUE_LAG.labels(kind=kind).set(seconds)
    return lag


def _age(value: datetime | None, now: datetime) -> float:
    if value is None:
        return 0.0
    if value.tzinfo is None:  # an aggregate bypasses the column type on SQLite
        value = value.replace(tzinfo=UTC)
    return max(0.0, (now - value).total_seconds())


# -- one whole cycle in-process ----------------------------------------------------------


@dataclass
class CycleSummary:
    """What one :func:`run_once` cycle did, for a person reading the terminal or cron mail."""

    feeds_due: int = 0
    feeds_polled: int = 0
    feeds_failed: int = 0
    new_articles: int = 0
    articles_matched: int = 0
    hits: int = 0
    deliveries_sent: int = 0
    deliveries_failed: int = 0
    digests: int = 0
    spikes: int = 0
    watchlists: int = 0
    # One line per problem, naming the feed by its name, else its URL without credentials.
    errors: list[str] = field(default_factory=list)

    @property
    def nothing_polled(self) -> bool:
        """Whether feeds were due and every one that was tried failed (the cycle achieved
        nothing; a cycle with nothing due did all it had to)."""
        return self.feeds_failed > 0 and self.feeds_polled == 0

    def lines(self) -> list[str]:
        text = [
            f"watchlists: {self.watchlists} loaded",
            f"feeds:      {self.feeds_polled} of {self.feeds_due} due polled, "
            f"{self.feeds_failed} failed",
            f"articles:   {self.new_articles} new, {self.articles_matched} matched",
            f"hits:       {self.hits}",
            f"alerts:     {self.deliveries_sent} sent, {self.deliveries_failed} not sent, "
            f"{self.digests} digests",
        ]
        if self.spikes:
            text.append(f"spikes:     {self.spikes} started")
        text.extend(f"error:      {error}" for error in self.errors)
        return text

    def __str__(self) -> str:
        return "\n".join(self.lines())


def run_once(settings: Settings, *, now: datetime | None = None) -> CycleSummary:
    """One full cycle in this process: watchlists, feeds, poll, match, deliver, digests."""
    now = now or utcnow()
    summary = CycleSummary()
    registry = load_registry(settings)
    summary.watchlists = len(registry.specs)
    with session_scope(settings) as session:
        sync_registry(session, registry, force=True)
        session.commit()
        due = schedule_due_feeds(session, settings=settings, now=now)
        summary.feeds_due = len(due)
        labels = feed_labels(session, due)
        for feed_id in due:
            try:
                outcome = poll_feed(session, feed_id, settings=settings, now=now)
                session.commit()
            except Exception as exc:
                session.rollback()
                log.exception("polling a feed failed", feed=feed_id)
                summary.feeds_failed += 1
                problem = scrub(f"{type(exc).__name__}: {exc}")
                summary.errors.append(f"feed {labels[feed_id]}: {problem}")
                continue
            if outcome.outcome != "skipped":
                count_poll(session, outcome.outcome, now=now)
                session.commit()
            if outcome.outcome in ("new", "unchanged"):
                summary.feeds_polled += 1
            elif outcome.outcome in ("error", "not_a_feed"):
                summary.feeds_failed += 1
                problem = scrub(outcome.error or outcome.outcome)
                summary.errors.append(f"feed {labels[feed_id]}: {problem}")
            summary.new_articles += len(new_article_ids(outcome))

        hits_before = session.execute(select(func.count(Hit.id))).scalar_one()
        pending = pending_article_ids(session, older_than=now + timedelta(seconds=1), limit=10**9)
        match_articles(session, pending, registry=registry, settings=settings, now=now)
        summary.articles_matched = len(pending)
        hits_after = session.execute(select(func.count(Hit.id))).scalar_one()
        summary.hits = hits_after - hits_before

        # Trends: a spike alert per watchlist whose volume surged, ops messages for feeds
        # that fell silent or recovered; their deliveries are due now and go out below.
        summary.spikes = sum(c.started for c in check_spikes(session, settings=settings, now=now))
        check_silent_feeds(session, settings=settings, now=now)
        roll_up(session, now=now)
        digest_ids = [int(i) for i in (open_due_digests(session, now=now) or [])]
        session.commit()
        summary.digests = len(digest_ids)
        to_send = list(dict.fromkeys([*due_delivery_ids(session, now=now), *digest_ids]))
        for delivery_id in to_send:
            sent = deliver(session, int(delivery_id), settings=settings, now=now)
            session.commit()
            if sent.sent:
                summary.deliveries_sent += 1
            else:
                summary.deliveries_failed += 1
    return summary


def feed_labels(session: Session, feed_ids: Sequence[int]) -> dict[int, str]:
    """How a person reading the terminal or cron mail knows each feed: its name from
    feeds.yaml, else its URL with any credentials replaced by ``***``."""
    rows = session.execute(select(Feed.id, Feed.name, Feed.url).where(Feed.id.in_(feed_ids)))
    labels = {feed_id: name or scrub(url) for feed_id, name, url in rows}
    # (A feed deleted since it was found due is still named by something.)
    return {feed_id: labels.get(feed_id, f"#{feed_id}") for feed_id in feed_ids}


# -- watchlists ----------------------------------------------------------------------------


def load_registry(settings: Settings) -> WatchlistRegistry:
    """The watchlists from ``settings.watchlists``, compiled (a broken file keeps its last
    valid version in force and is reported by the watchlists module)."""
    return WatchlistRegistry(settings.watchlists)


def sync_registry(session: Session, registry: WatchlistRegistry, *, force: bool = False) -> bool:
    """Re-read changed watchlist files; when something changed (or *force*), write them to
    the ``watchlists`` table, so a hit's watchlist row exists before the hit does. The caller
    commits. Returns whether the table was written."""
    changed = bool(registry.refresh(sample=lambda: recent_documents(session)))
    if changed or force:
        sync_watchlists(session, registry)
    return changed or force
