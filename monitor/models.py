"""The database schema: feeds, articles, watchlists, hits, deliveries, stories.

The same models run on SQLite (the embedded default) and PostgreSQL. Two rules keep that true:
times are stored as naive UTC and handed back timezone-aware (:class:`UTCDateTime`), and every
"only once" guarantee is a unique constraint or a conditional UPDATE, never a lock that only
one of the two databases has.

Alembic migrations under ``monitor/migrations`` must describe exactly these models; a test
compares them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from monitor.states import DeliveryKind, DeliveryStatus, SubscriptionState

__all__ = [
    "Article",
    "ArticleFeed",
    "Base",
    "ConfigFile",
    "Delivery",
    "DeliveryHit",
    "Destination",
    "Feed",
    "FeedSilence",
    "Hit",
    "HitAction",
    "HitArticle",
    "HourCount",
    "Lease",
    "PollCount",
    "RollupMark",
    "Snooze",
    "SpikeState",
    "Story",
    "StoryKey",
    "StoryMute",
    "Watchlist",
    "WebSubSubscription",
    "source_name",
    "utcnow",
]

# Constraint names are explicit so that migrations are the same on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC, returned as an aware UTC datetime.

    SQLite has no time zones; storing naive UTC everywhere makes comparisons and indexes behave
    the same on both databases. Naive datetimes given to us are refused: they are a bug.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Feed(Base):
    """A source we poll, and its poll state. ``feeds.yaml`` is the source of truth for the
    configuration columns; the poll-state columns belong to the poller."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    fulltext: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Alert on the entries found at the first successful poll too (feeds.yaml
    # 'alert_first_poll'); by default that backlog is recorded without alerts.
    alert_first_poll: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Why the feed is off when the service turned it off (a 410, removed from feeds.yaml).
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    in_config: Mapped[bool] = mapped_column(Boolean, default=True)
    # What the source is (a SourceKind: feed, html, sitemap, gdelt) and the options its type
    # takes in feeds.yaml (CSS selectors, a GDELT query); None for a feed.
    kind: Mapped[str] = mapped_column(String(20), default="feed", server_default="feed")
    source: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    # What the feed says about itself.
    title: Mapped[str | None] = mapped_column(Text)
    site_url: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(35))
    ttl_seconds: Mapped[int | None] = mapped_column(Integer)

    # Poll state.
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    next_poll_at: Mapped[datetime | None]
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_streak: Mapped[int] = mapped_column(Integer, default=0)
    last_new_items: Mapped[int | None] = mapped_column(Integer)
    items_per_day: Mapped[float | None] = mapped_column(Float)
    # Compare-and-set claim so one feed is polled by one worker at a time; a claim past
    # ``claimed_until`` is stale (its worker died) and may be taken over.
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    # The end of the lease of a verified WebSub subscription: until then the hub pushes new
    # entries and polling is the slower fallback (monitor.feeds.websub).
    websub_until: Mapped[datetime | None]

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_feeds_due", "enabled", "next_poll_at"),)

    @property
    def display_name(self) -> str:
        return self.name or self.title or self.url


class WebSubSubscription(Base):
    """A feed's WebSub subscription at its hub, and where it stands (monitor.feeds.websub).

    ``callback_token`` is the last part of the callback URL, unguessable, so a request to it
    names its subscription; ``secret`` is the ``hub.secret`` the hub signs pushes with. Both
    are made here for this subscription alone and are never shown.
    """

    __tablename__ = "websub_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), unique=True)
    hub_url: Mapped[str] = mapped_column(Text)
    topic_url: Mapped[str] = mapped_column(Text)
    callback_token: Mapped[str] = mapped_column(String(64), unique=True)
    secret: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(20), default=SubscriptionState.REQUESTED)
    lease_seconds: Mapped[int | None] = mapped_column(Integer)
    lease_expires_at: Mapped[datetime | None]
    # When the next (re)subscription request is due: a new request, a renewal before the
    # lease ends, a retry after a failure or a verification that never came.
    next_request_at: Mapped[datetime | None]
    requested_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    last_push_at: Mapped[datetime | None]
    pushes: Mapped[int] = mapped_column(Integer, default=0)
    rejected_pushes: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_websub_due", "next_request_at"),)


class ConfigFile(Base):
    """A configuration file as the service last read it (feeds.yaml), for every process to see.

    ``content_hash`` names the version last read, so its problems are logged once per change
    however many processes read it (the first to store the new hash logs them), and
    ``problems`` holds them, one line each (``path:line: what is wrong``), for the dashboard and
    ``monitor feeds list``: what in the file is not in force.
    """

    __tablename__ = "config_files"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    problems: Mapped[list[Any]] = mapped_column(default=list)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class Story(Base):
    """Near-duplicate articles (the same wire story in several outlets) share a story."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    title: Mapped[str | None] = mapped_column(Text)
    article_count: Mapped[int] = mapped_column(Integer, default=1)
    # MinHash signature of the first article, so the LSH index can be rebuilt from the table.
    signature: Mapped[list[Any] | None] = mapped_column(JSON)


class StoryKey(Base):
    """A story's claim on one of its MinHash values (band: its position; -1: the headline)
    while the story is in its window.

    The primary key is the compare-and-set that keeps two workers from starting the same story
    at once: the second creator's claim collides with the first's (PostgreSQL waits for the
    first transaction to end; SQLite has one writer at a time), so it joins that story.
    """

    __tablename__ = "story_keys"

    band: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    # A claim older than the window is free again: the next story with that key takes it over.
    first_seen_at: Mapped[datetime]


class Article(Base):
    """One news item, stored once however many feeds carry it."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 of the entry's identity (GUID, else canonical link, else title and content).
    identity: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str | None] = mapped_column(Text, index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    # The language matching uses: the feed's declaration, settled against the detection
    # when the article is matched (monitor.matching.language).
    language: Mapped[str | None] = mapped_column(String(35))
    # What the detector said of the text, and how sure it was (NULL: too short to tell).
    detected_language: Mapped[str | None] = mapped_column(String(35))
    language_confidence: Mapped[float | None] = mapped_column(Float)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # The feed through which we first saw it (the 'source' of a hit).
    source_feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"))
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), index=True
    )
    # NULL until the matcher has seen it: the articles table is the match queue.
    matched_at: Mapped[datetime | None] = mapped_column(index=True)
    fulltext_error: Mapped[str | None] = mapped_column(Text)
    # Stored by its feed's first successful poll: the backlog a new feed brings, whose hits are
    # recorded without alerts (unless the feed says 'alert_first_poll').
    first_poll: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The country of the outlet, where the source says it (GDELT's 'sourcecountry').
    source_country: Mapped[str | None] = mapped_column(String(100))

    source_feed: Mapped[Feed | None] = relationship(lazy="joined")
    feeds: Mapped[list[ArticleFeed]] = relationship(
        back_populates="article", cascade="all, delete-orphan"
    )

    @property
    def source_name(self) -> str:
        """The source people and queries know this article by: see :func:`source_name`."""
        return source_name(self.source_feed, self.url)


def source_name(feed: Feed | None, url: str | None) -> str:
    """The one rule for an article's source, shown in alerts and on the dashboard and searched
    by ``source:``: the name (else the title) of the feed that first brought it, else the host
    of the article's URL, else the feed's host. Never a feed's whole URL, which may hold a
    token."""
    if feed is not None and (feed.name or feed.title):
        return feed.name or feed.title or ""
    return _host(url) or _host(feed.url if feed is not None else None)


def _host(url: str | None) -> str:
    try:
        return urlsplit(url or "").hostname or ""
    except ValueError:  # a malformed IPv6 literal, from a feed
        return ""


class ArticleFeed(Base):
    """An article seen in a feed. The same article in two feeds is two rows here, one above."""

    __tablename__ = "article_feeds"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    feed_id: Mapped[int] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    entry_url: Mapped[str | None] = mapped_column(Text)

    article: Mapped[Article] = relationship(back_populates="feeds")
    feed: Mapped[Feed] = relationship()


class Watchlist(Base):
    """A watchlist as last loaded from its YAML file (the file is the source of truth)."""

    __tablename__ = "watchlists"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str | None] = mapped_column(Text)
    query: Mapped[str] = mapped_column(Text, default="")
    path: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The validated definition in force (alerts, throttle, filters), as JSON.
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set when the file is broken: the last valid ``definition`` stays in force meanwhile.
    load_error: Mapped[str | None] = mapped_column(Text)
    in_files: Mapped[bool] = mapped_column(Boolean, default=True)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Hit(Base):
    """A watchlist matched an article. Unique per watchlist × article."""

    __tablename__ = "hits"

    id: Mapped[int] = mapped_column(primary_key=True)
    watchlist_id: Mapped[str] = mapped_column(ForeignKey("watchlists.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Why it matched: terms and phrases, the fields they were found in, and
    # {"field": ["term", ...]} for the per-field view.
    matched: Mapped[list[Any]] = mapped_column(default=list)
    fields: Mapped[list[Any]] = mapped_column(default=list)
    explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The sentence(s) around the first match, as plain text, and the [start, end) character
    # spans of the matched words in it. Marking happens at render time, after escaping.
    snippet: Mapped[str] = mapped_column(Text, default="")
    highlights: Mapped[list[Any]] = mapped_column(default=list)
    source_count: Mapped[int] = mapped_column(Integer, default=1)
    escalated_at: Mapped[datetime | None]
    # How well the article matched, as the matcher scores it (higher is better).
    score: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # A NotAlerted: why no alert of its own went out (NULL: it was alerted).
    not_alerted: Mapped[str | None] = mapped_column(String(20))
    # A HitLabel a person gave it (monitor.triage), who and when; NULL until someone does.
    label: Mapped[str | None] = mapped_column(String(20))
    labelled_by: Mapped[str | None] = mapped_column(Text)
    labelled_at: Mapped[datetime | None]

    watchlist: Mapped[Watchlist] = relationship()
    article: Mapped[Article] = relationship()
    deliveries: Mapped[list[DeliveryHit]] = relationship(back_populates="hit")

    __table_args__ = (
        UniqueConstraint("watchlist_id", "article_id", name="uq_hits_watchlist_article"),
        # 'Recent hits', newest first, paginated by (created_at, id).
        Index("ix_hits_recent", "created_at", "id"),
        Index("ix_hits_watchlist_recent", "watchlist_id", "created_at", "id"),
        Index("ix_hits_article", "article_id"),
        # 'Best matches first' (sort=score), paginated by (score, id).
        Index("ix_hits_score", "score", "id"),
        # A watchlist's hits by label over a period: the label= filter, newest first, and
        # precision's counts, from the index alone.
        Index("ix_hits_watchlist_label", "watchlist_id", "label", "created_at"),
    )


class HitArticle(Base):
    """Later copies of a story attached to its hit ('also reported by ...')."""

    __tablename__ = "hit_articles"

    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    attached_at: Mapped[datetime] = mapped_column(default=utcnow)


class Destination(Base):
    """Where alerts go ('slack:#desk', 'email:a@example.org', ...), and whether it is broken.

    A permanent failure (a deleted webhook, an archived channel) flags the destination here, so
    the dashboard shows it and the outbox stops trying, instead of retrying forever.
    """

    __tablename__ = "destinations"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_success_at: Mapped[datetime | None]


class Delivery(Base):
    """One message to one destination: for a hit, a digest, a throttle summary or a follow-up.

    The table is the outbox. ``dedupe_key`` makes creating a delivery idempotent; a worker takes
    one by a conditional UPDATE of ``status`` and ``claim_token``; ``provider_message_id`` and
    ``sent_at`` are written as soon as the provider accepts the message.
    """

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(400), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default=DeliveryKind.INSTANT)
    hit_id: Mapped[int | None] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"))
    watchlist_id: Mapped[str | None] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE")
    )
    destination: Mapped[str] = mapped_column(ForeignKey("destinations.key", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    # A DeliveryStatus (see there for its life).
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(Text)
    # Slack channel id returned by chat.postMessage, for thread replies.
    provider_channel: Mapped[str | None] = mapped_column(Text)
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    # When a digest or summary should go out, and what it covers.
    due_at: Mapped[datetime | None]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    hits: Mapped[list[DeliveryHit]] = relationship(
        back_populates="delivery", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_hit", "hit_id"),
        Index("ix_deliveries_created", "created_at", "id"),
    )


class DeliveryHit(Base):
    """The hits a delivery carries: one for an instant alert, many for a digest."""

    __tablename__ = "delivery_hits"

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    hit_id: Mapped[int] = mapped_column(
        ForeignKey("hits.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    delivery: Mapped[Delivery] = relationship(back_populates="hits")
    hit: Mapped[Hit] = relationship(back_populates="deliveries")


class Lease(Base):
    """A named, expiring lease taken by compare-and-set: one beat scheduler at a time."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]


class HitAction(Base):
    """One thing a person did to a hit (label it, mute its story, snooze its watchlist), from
    Slack, an email link or the dashboard: the log behind every label, mute and snooze, and
    what an undo puts back.

    ``key`` is the caller's idempotency key (Slack's ``action_ts``, an email link's token id),
    unique, so a replayed request finds its first act instead of acting again.
    """

    __tablename__ = "hit_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), index=True)
    # A monitor.triage.Action.
    action: Mapped[str] = mapped_column(String(20))
    who: Mapped[str] = mapped_column(Text)
    # Where it was done: slack, email or dashboard.
    via: Mapped[str] = mapped_column(String(20))
    # A snooze's scope: one destination key, or '' for every destination of the watchlist.
    destination: Mapped[str | None] = mapped_column(String(300))
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # False when the state was already so (a second click): nothing to undo.
    changed: Mapped[bool] = mapped_column(Boolean, default=True)
    # What undoing needs: the label before, the mute or snooze row, the deliveries held back.
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[str | None] = mapped_column(Text)


class StoryMute(Base):
    """A story muted for one watchlist: nothing more about it goes to the watchlist's
    destinations (no thread reply, escalation or digest entry) until the mute is lifted.

    ``scope`` is ``story:<id>``, or ``hit:<id>`` for a hit outside any story; unique per
    watchlist, so muting twice is one row, lifted and muted again by compare-and-set.
    """

    __tablename__ = "story_mutes"

    id: Mapped[int] = mapped_column(primary_key=True)
    watchlist_id: Mapped[str] = mapped_column(ForeignKey("watchlists.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(40))
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"))
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), index=True)
    muted_by: Mapped[str] = mapped_column(Text)
    muted_at: Mapped[datetime]
    # NULL while the mute holds.
    lifted_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("watchlist_id", "scope", name="uq_story_mutes_watchlist_scope"),
    )


class Snooze(Base):
    """A watchlist's alerts to one destination (or to all of them) held until ``until``: the
    hits gather in one 'N hits while snoozed' summary that goes out when the snooze ends."""

    __tablename__ = "snoozes"

    id: Mapped[int] = mapped_column(primary_key=True)
    watchlist_id: Mapped[str] = mapped_column(ForeignKey("watchlists.id", ondelete="CASCADE"))
    # A destination key, or '' for every destination of the watchlist.
    destination: Mapped[str] = mapped_column(String(300), default="")
    starts_at: Mapped[datetime]
    until: Mapped[datetime]
    snoozed_by: Mapped[str] = mapped_column(Text)
    # Set when a person ends it early (an undo); a snooze past ``until`` has ended by itself.
    ended_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_snoozes_watchlist_until", "watchlist_id", "until"),)


class SpikeState(Base):
    """Whether a watchlist's volume is in a spike now (``monitor.trends``): one alert when it
    starts, then quiet until the volume is back to normal.

    ``spiking_since`` goes from NULL to a time by compare-and-set, so two checks running at
    once send one alert, and back to NULL when the volume is normal again.
    """

    __tablename__ = "spike_states"

    watchlist_id: Mapped[str] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE"), primary_key=True
    )
    spiking_since: Mapped[datetime | None]
    checked_at: Mapped[datetime | None]
    # What the last check saw in its most improbable window, for the dashboard.
    observed: Mapped[int] = mapped_column(Integer, default=0)
    expected: Mapped[float] = mapped_column(Float, default=0.0)


class FeedSilence(Base):
    """A feed that still answers but has stopped publishing (``monitor.trends.silence``).

    ``silent_since`` goes from NULL to a time (and back) by compare-and-set, so ops hear once
    when a feed falls silent and once when it recovers.
    """

    __tablename__ = "feed_silences"

    feed_id: Mapped[int] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    silent_since: Mapped[datetime | None]
    # The feed's usual gap between items (median of recent gaps), seconds.
    usual_gap_seconds: Mapped[float | None] = mapped_column(Float)
    last_item_at: Mapped[datetime | None]
    checked_at: Mapped[datetime | None]


class PollCount(Base):
    """How many polls ended in each outcome, per clock hour: feed health over time."""

    __tablename__ = "poll_counts"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class HourCount(Base):
    """A count per clock hour, rolled up once the hour is over (``monitor.trends.rollup``), so
    the overview page reads a few thousand rows, not a million hits.

    ``series`` says what is counted (``stories`` and ``articles`` per watchlist in ``key``;
    ``new_articles`` with an empty key).
    """

    __tablename__ = "hour_counts"

    series: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_hour_counts_hour", "hour"),)


class RollupMark(Base):
    """How far the hourly roll-up has gone: every hour before ``until`` is in ``hour_counts``."""

    __tablename__ = "rollup_marks"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    until: Mapped[datetime]
