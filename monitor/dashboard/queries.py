"""Read-only queries behind the dashboard pages and the JSON API.

Recent hits are paginated by keyset on (created_at, id), newest first, so that page 10,000 costs
what page 1 costs: ``ix_hits_recent`` and ``ix_hits_watchlist_recent`` serve both the order and
the cursor condition. OFFSET would scan every skipped row. Sorted by score (best first), the
keyset is (score, id), served by ``ix_hits_score``, and its cursors say so: a cursor of one
order is refused by the other.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from monitor.alerts.formatting import neutralise, neutralise_marked, safe_url
from monitor.destinations import AlertSpec
from monitor.documents import stored_document
from monitor.feeds.config import feeds_file_problems as stored_feeds_file_problems
from monitor.matching.satisfied import QueryPart, marked_query
from monitor.models import (
    Article,
    Delivery,
    DeliveryHit,
    Destination,
    Feed,
    FeedSilence,
    Hit,
    HitArticle,
    Watchlist,
    WebSubSubscription,
    utcnow,
)
from monitor.redaction import scrub
from monitor.states import DeliveryKind, DeliveryStatus, HitLabel, NotAlerted, SubscriptionState

__all__ = [
    "ID_LIMIT",
    "LABELS",
    "RANGES",
    "HitFilter",
    "decode_cursor",
    "deliveries",
    "encode_cursor",
    "encode_score_cursor",
    "feed_health",
    "feeds_file_problems",
    "filter_choices",
    "hit_detail",
    "marked_hit_query",
    "recent_hits",
    "watchlist_stats",
]

RANGES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
# Ids are 64-bit signed integers in both databases: anything from here up cannot be one.
ID_LIMIT = 2**63
# How the hits list may be ordered: newest recorded first, or best score first.
SORTS = ("time", "score")
# What the label= filter takes: a HitLabel, or "none" for hits nobody has labelled yet.
LABELS = (*(label.value for label in HitLabel), "none")


def encode_cursor(created_at: datetime, hit_id: int) -> str:
    raw = f"{created_at.astimezone(UTC).isoformat()}|{hit_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Raise ValueError on anything that is not a cursor we made."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, ident = raw.partition("|")
        created = datetime.fromisoformat(when)
        if created.tzinfo is None:
            raise ValueError("naive cursor time")
        key = int(ident)
        if not 0 <= key < ID_LIMIT:  # past the database's integer: an overflow, not a page
            raise ValueError("cursor id out of range")
        return created, key
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("invalid cursor") from exc


_SCORE_CURSOR = "score:"


def encode_score_cursor(score: float, hit_id: int) -> str:
    """A cursor of the best-first order; ``repr`` gives back the very same float."""
    raw = f"{_SCORE_CURSOR}{float(score)!r}|{hit_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_score_cursor(cursor: str) -> tuple[float, int]:
    """Raise ValueError on anything that is not a score cursor we made."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith(_SCORE_CURSOR):
            raise ValueError("not a score cursor")
        value, _, ident = raw.removeprefix(_SCORE_CURSOR).partition("|")
        score = float(value)
        key = int(ident)
        if not math.isfinite(score) or not 0 <= key < 2**63:
            raise ValueError("cursor out of range")
        return score, key
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("invalid cursor") from exc


@dataclass(frozen=True)
class HitFilter:
    watchlist: str | None = None
    feed: int | None = None
    range: str | None = None  # 1h, 24h, 7d, or None for all / custom
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    # True: hits that were alerted (instantly or in a digest); False: those that were not.
    alerted: bool | None = None
    sort: str = "time"  # one of SORTS
    # A HitLabel, or "none" for hits nobody has labelled (one of LABELS).
    label: str | None = None

    def bounds(self, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
        if self.range in RANGES:
            return (now or utcnow()) - RANGES[self.range], None
        return self.since, self.until


def _feed_label(feed: Feed) -> str:
    return feed.name or feed.title or scrub(feed.url) or ""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _older_than(created: Any, ident: Any, cursor: str) -> Any:
    """Rows after ``cursor`` in newest-first (created, id) order: the keyset condition."""
    when, key = decode_cursor(cursor)
    return or_(created < when, and_(created == when, ident < key))


def _filtered(f: HitFilter) -> Any:
    stmt = select(Hit, Article).join(Article, Article.id == Hit.article_id)
    if f.watchlist:
        stmt = stmt.where(Hit.watchlist_id == f.watchlist)
    if f.feed is not None:
        # A correlated lookup rather than a condition on the joined articles: given the latter,
        # SQLite scans every article of the feed and sorts (1.2 s at a million hits) instead of
        # walking the hits index newest first and stopping after one page (10 ms).
        source = (
            select(Article.source_feed_id)
            .where(Article.id == Hit.article_id)
            .correlate(Hit)
            .scalar_subquery()
        )
        stmt = stmt.where(source == f.feed)
    since, until = f.bounds()
    if since is not None:
        stmt = stmt.where(Hit.created_at >= since)
    if until is not None:
        stmt = stmt.where(Hit.created_at < until)
    if f.alerted is True:
        stmt = stmt.where(Hit.not_alerted.is_(None))
    elif f.alerted is False:
        stmt = stmt.where(Hit.not_alerted.is_not(None))
    if f.label == "none":
        stmt = stmt.where(Hit.label.is_(None))
    elif f.label:
        stmt = stmt.where(Hit.label == f.label)
    if f.q:
        term = _containing(f.q.lower())
        stmt = stmt.where(
            or_(
                func.lower(Article.title).like(term, escape="\\"),
                func.lower(Hit.snippet).like(term, escape="\\"),
            )
        )
    return stmt


def _status_by_hit(session: Session, hit_ids: list[int]) -> dict[int, str]:
    """One summary status per hit: the worst of its deliveries."""
    if not hit_ids:
        return {}
    rank: dict[str, int] = {
        DeliveryStatus.FAILED: 5,
        DeliveryStatus.RETRYING: 4,
        DeliveryStatus.SENDING: 3,
        DeliveryStatus.PENDING: 2,
        DeliveryStatus.SCHEDULED: 1,
        DeliveryStatus.SENT: 0,
    }
    out: dict[int, str] = {}
    rows = session.execute(
        select(DeliveryHit.hit_id, Delivery.status)
        .join(Delivery, Delivery.id == DeliveryHit.delivery_id)
        .where(DeliveryHit.hit_id.in_(hit_ids))
    ).all()
    for hit_id, status in rows:
        current = out.get(hit_id)
        if current is None or rank.get(status, 0) > rank.get(current, 0):
            out[hit_id] = status
    return out


def _readable(text: str | None) -> str | None:
    return neutralise(text) if text else text


def _watchlist_names(session: Session, ids: set[str]) -> dict[str, str]:
    """Each watchlist's name, else its id (for a watchlist whose file gives none)."""
    if not ids:
        return {}
    rows = session.execute(select(Watchlist.id, Watchlist.name).where(Watchlist.id.in_(ids)))
    names = {wid: name for wid, name in rows if name}
    return {wid: names.get(wid, wid) for wid in ids}


def _not_alerted_label(value: str | None) -> str | None:
    try:
        return NotAlerted(value).label if value else None
    except ValueError:  # a reason written by a newer version
        return value


def _label_text(value: str | None) -> str | None:
    try:
        return HitLabel(value).label if value else None
    except ValueError:  # a label written by a newer version
        return value


def _hit_row(
    hit: Hit, article: Article, status: str | None, names: dict[str, str], *, sort: str = "time"
) -> dict[str, Any]:
    # Without bidi controls: the live refresh shows these fields as they are (app.js).
    snippet, highlights = neutralise_marked(hit.snippet or "", hit.highlights or ())
    return {
        "id": hit.id,
        # When the hit was recorded, and when the article says it was published.
        "created_at": hit.created_at.isoformat(),
        "published_at": _iso(article.published_at),
        "watchlist": hit.watchlist_id,
        "watchlist_name": _readable(names.get(hit.watchlist_id, hit.watchlist_id)),
        "title": _readable(article.title),
        "url": safe_url(article.url),
        "source": _readable(article.source_name),
        # Where the source says it (GDELT): the outlet's country.
        "source_country": _readable(article.source_country),
        # The language matching used (None: unknown), and what the detector said of the text.
        "language": _readable(article.language) if article.language else None,
        "detected_language": article.detected_language,
        "language_confidence": article.language_confidence,
        "feed_id": article.source_feed_id,
        "snippet": snippet,
        "highlights": highlights,
        "matched": hit.matched,
        "score": hit.score,
        "alerted": hit.not_alerted is None,
        "not_alerted": hit.not_alerted,
        "not_alerted_label": _not_alerted_label(hit.not_alerted),
        "delivery_status": status or "none",
        # What a person said of it (monitor.triage): relevant, not_relevant or None.
        "label": hit.label,
        "label_text": _label_text(hit.label),
        "labelled_by": hit.labelled_by,
        "labelled_at": _iso(hit.labelled_at),
        "cursor": (
            encode_score_cursor(hit.score, hit.id)
            if sort == "score"
            else encode_cursor(hit.created_at, hit.id)
        ),
    }


def recent_hits(
    session: Session,
    f: HitFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
    after: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first (or best score first, ``f.sort == "score"``), ``limit`` rows after
    ``cursor``; or, with ``after``, the rows recorded after that cursor's (for live refresh),
    newest first whatever the sort. Returns the rows and the next cursor (None on the last
    page)."""
    stmt = _filtered(f)
    sort = "time" if after else f.sort
    if sort == "score":
        if cursor:
            score, ident = decode_score_cursor(cursor)
            stmt = stmt.where(or_(Hit.score < score, and_(Hit.score == score, Hit.id < ident)))
        stmt = stmt.order_by(Hit.score.desc(), Hit.id.desc()).limit(limit + 1)
        pairs = list(session.execute(stmt).all())
        more = None
        if len(pairs) > limit:
            pairs = pairs[:limit]
            last = pairs[-1][0]
            more = encode_score_cursor(last.score, last.id)
    elif after:
        created, ident = decode_cursor(after)
        stmt = stmt.where(
            or_(Hit.created_at > created, and_(Hit.created_at == created, Hit.id > ident))
        )
        stmt = stmt.order_by(Hit.created_at.asc(), Hit.id.asc()).limit(limit)
        pairs = list(reversed(session.execute(stmt).all()))
        more = None
    else:
        if cursor:
            stmt = stmt.where(_older_than(Hit.created_at, Hit.id, cursor))
        stmt = stmt.order_by(Hit.created_at.desc(), Hit.id.desc()).limit(limit + 1)
        pairs = list(session.execute(stmt).all())
        more = None
        if len(pairs) > limit:
            pairs = pairs[:limit]
            last = pairs[-1][0]
            more = encode_cursor(last.created_at, last.id)
    statuses = _status_by_hit(session, [hit.id for hit, _ in pairs])
    names = _watchlist_names(session, {hit.watchlist_id for hit, _ in pairs})
    rows = [
        _hit_row(hit, article, statuses.get(hit.id), names, sort=sort) for hit, article in pairs
    ]
    return rows, more


# Past this many watchlists the hits page asks for an id rather than listing them all.
MENU_MAX = 500


def filter_choices(
    session: Session,
) -> tuple[list[tuple[str, str]] | None, list[tuple[int, str]]]:
    """(watchlist id, name) pairs (None when there are more than MENU_MAX) and (feed id,
    label) pairs for the filter menus of the hits page."""
    rows = session.execute(
        select(Watchlist.id, Watchlist.name).order_by(Watchlist.id).limit(MENU_MAX + 1)
    ).all()
    watchlists = [(wid, name or wid) for wid, name in rows] if len(rows) <= MENU_MAX else None
    feeds = [
        (feed.id, _feed_label(feed)) for feed in session.scalars(select(Feed).order_by(Feed.id))
    ]
    return watchlists, feeds


def hit_detail(session: Session, hit_id: int) -> dict[str, Any] | None:
    hit = session.get(Hit, hit_id)
    if hit is None:
        return None
    article = hit.article
    names = _watchlist_names(session, {hit.watchlist_id})
    row = _hit_row(hit, article, _status_by_hit(session, [hit_id]).get(hit_id), names)
    row["explanation"] = hit.explanation
    row["fields"] = hit.fields
    row["deliveries"] = [
        _delivery_row(d, names)
        for d in session.scalars(
            select(Delivery)
            .join(DeliveryHit, DeliveryHit.delivery_id == Delivery.id)
            .where(DeliveryHit.hit_id == hit_id)
            .order_by(Delivery.id)
        )
    ]
    others: dict[int, Article] = {}
    for other in session.scalars(
        select(Article)
        .join(HitArticle, HitArticle.article_id == Article.id)
        .where(HitArticle.hit_id == hit_id)
    ):
        others[other.id] = other
    story = hit.story_id or article.story_id
    if story is not None:
        for other in session.scalars(
            select(Article).where(Article.story_id == story, Article.id != article.id).limit(50)
        ):
            others[other.id] = other
    row["also_reported_by"] = [
        {"title": _readable(o.title), "url": safe_url(o.url), "source": _readable(o.source_name)}
        for o in others.values()
    ]
    return row


def _destination_key(alert: Any) -> str:
    """The destinations.key of one stored alert spec (the alerting module's rule)."""
    try:
        return AlertSpec.model_validate(alert).key
    except ValidationError:
        return "(invalid alert)"


def _containing(text: str) -> str:
    """A LIKE pattern (escape character '\\') for values containing *text*; its wildcards are
    escaped, so that a search for '100%' means the text '100%'."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def watchlist_stats(
    session: Session,
    now: datetime | None = None,
    *,
    limit: int = 100,
    after: str | None = None,
    search: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Watchlists by id, *limit* of them after the id *after* (keyset paging: the service
    may hold 100,000), each with its hit counts; and the id to continue after (None on the
    last page). *search* keeps ids and names that contain it.

    The counts come from a fixed number of queries per page, not four per watchlist."""
    now = now or utcnow()
    day0 = (now - timedelta(days=29)).replace(hour=0, minute=0, second=0, microsecond=0)

    def hits_since(when: datetime | None) -> Any:
        # One index range per watchlist (ix_hits_watchlist_recent).
        count = select(func.count()).where(Hit.watchlist_id == Watchlist.id)
        if when is not None:
            count = count.where(Hit.created_at >= when)
        return count.scalar_subquery()

    last_hit = (
        select(func.max(Hit.created_at)).where(Hit.watchlist_id == Watchlist.id).scalar_subquery()
    )
    stmt = select(
        Watchlist,
        hits_since(now - timedelta(hours=24)),
        hits_since(now - timedelta(days=7)),
        last_hit,
    ).order_by(Watchlist.id)
    if after is not None:
        stmt = stmt.where(Watchlist.id > after)
    if search:
        term = _containing(search.lower())
        stmt = stmt.where(
            or_(
                func.lower(Watchlist.id).like(term, escape="\\"),
                func.lower(Watchlist.name).like(term, escape="\\"),
            )
        )
    page = session.execute(stmt.limit(limit + 1)).all()
    more = page[limit - 1][0].id if len(page) > limit else None
    page = page[:limit]
    ids = [row[0].id for row in page]

    per_day: dict[str, list[int]] = {wid: [0] * 30 for wid in ids}
    if ids:
        # Count per day in the database: a busy watchlist has far too many rows to fetch.
        day = func.date(Hit.created_at)
        for wid, value, count in session.execute(
            select(Hit.watchlist_id, day, func.count())
            .where(Hit.watchlist_id.in_(ids), Hit.created_at >= day0)
            .group_by(Hit.watchlist_id, day)
        ):
            when = value if isinstance(value, date) else date.fromisoformat(str(value))
            index = (when - day0.date()).days
            if 0 <= index < 30:
                per_day[wid][index] += count
    flagged = {
        d.key: scrub(d.last_error) or "failing"
        for d in session.scalars(select(Destination).where(Destination.failed_at.is_not(None)))
    }
    out = []
    for wl, h24, h7, last in page:
        alerts = (wl.definition or {}).get("alerts") or []
        destinations = []
        for alert in alerts:
            key = _destination_key(alert)
            destinations.append(
                {
                    "key": key,
                    "digest": alert.get("digest") if isinstance(alert, dict) else None,
                    "flagged": flagged.get(key),
                }
            )
        out.append(
            {
                "id": wl.id,
                "name": wl.name or wl.id,
                "query": wl.query,
                "enabled": wl.enabled,
                "in_files": wl.in_files,
                "load_error": wl.load_error,
                "destinations": destinations,
                "hits_24h": h24 or 0,
                "hits_7d": h7 or 0,
                "per_day": per_day[wl.id],
                "last_hit": _iso(last),
            }
        )
    return out, more


FEED_SORTS = {"status", "name", "last_polled_at", "error_streak", "items_per_day", "next_poll_at"}


def feed_health(session: Session, sort: str = "status") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    subscriptions = {s.feed_id: s for s in session.scalars(select(WebSubSubscription))}
    now = utcnow()
    # Feeds that answer but stopped publishing (monitor.trends.silence): since when.
    silences: dict[int, datetime | None] = {
        feed_id: since
        for feed_id, since in session.execute(
            select(FeedSilence.feed_id, FeedSilence.silent_since).where(
                FeedSilence.silent_since.is_not(None)
            )
        )
    }
    for feed in session.scalars(select(Feed)):
        if not feed.enabled:
            status = "disabled"
        elif feed.error_streak > 0:
            status = "erroring"
        else:
            status = "ok"
        rows.append(
            {
                "id": feed.id,
                "name": _feed_label(feed),
                "url": scrub(feed.url),
                # The source's type: feed, html, sitemap or gdelt.
                "type": feed.kind,
                "status": status,
                "last_polled_at": _iso(feed.last_polled_at),
                "last_success_at": _iso(feed.last_success_at),
                "last_status": feed.last_status,
                "error_streak": feed.error_streak,
                "last_error": scrub(feed.last_error or feed.disabled_reason),
                "next_poll_at": _iso(feed.next_poll_at),
                "items_per_day": feed.items_per_day,
                "websub": _websub_state(subscriptions.get(feed.id), now=now),
                "silent": feed.enabled and feed.id in silences,
                "silent_since": _iso(silences.get(feed.id)),
            }
        )
    # Broken first: that is what an operator opens this page for.
    order = {"erroring": 0, "disabled": 1, "ok": 2}
    if sort not in FEED_SORTS or sort == "status":
        rows.sort(key=lambda r: (order[r["status"]], -r["error_streak"], r["name"].lower()))
    elif sort == "name":
        rows.sort(key=lambda r: r["name"].lower())
    else:
        rows.sort(key=lambda r: (r[sort] is None, r[sort] or 0), reverse=sort == "error_streak")
    return rows


def _websub_state(row: WebSubSubscription | None, *, now: datetime) -> dict[str, Any] | None:
    """A feed's WebSub subscription as people may see it: never its secret or callback."""
    if row is None:
        return None
    state = str(row.state)
    if state == SubscriptionState.ACTIVE and row.lease_expires_at and row.lease_expires_at <= now:
        state = "expired"  # not renewed in time: polled at its own rate again
    return {
        "state": state,
        "hub": scrub(row.hub_url),
        "topic": scrub(row.topic_url),
        "lease_expires_at": _iso(row.lease_expires_at),
        "next_request_at": _iso(row.next_request_at),
        "pushes": row.pushes,
        "rejected_pushes": row.rejected_pushes,
        "last_push_at": _iso(row.last_push_at),
        "last_error": scrub(row.last_error),
    }


def feeds_file_problems(session: Session) -> list[str]:
    """The entries of feeds.yaml not in force (their feeds stay as last applied), one line
    each, credentials scrubbed: the same lines as the log and ``monitor feeds list``."""
    return [scrub(line) or "" for line in stored_feeds_file_problems(session)]


def _kind_label(kind: str) -> str:
    try:
        return DeliveryKind(kind).label
    except ValueError:  # a kind written by a newer version
        return kind


def _delivery_row(d: Delivery, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": d.id,
        "kind": d.kind,
        "kind_label": _kind_label(d.kind),
        "hit_id": d.hit_id,
        "watchlist": d.watchlist_id,
        # A digest serves every watchlist that sends to its destination: it has no one name.
        "watchlist_name": names.get(d.watchlist_id) if d.watchlist_id else None,
        "channel": d.channel,
        "destination": d.destination,
        "status": d.status,
        "attempts": d.attempts,
        "last_error": scrub(d.last_error),
        "sent_at": _iso(d.sent_at),
        "next_attempt_at": _iso(d.next_attempt_at),
        "created_at": d.created_at.isoformat(),
        "cursor": encode_cursor(d.created_at, d.id),
    }


def deliveries(
    session: Session,
    statuses: tuple[str, ...] = (DeliveryStatus.FAILED, DeliveryStatus.RETRYING),
    *,
    watchlist: str | None = None,
    limit: int = 200,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Failed and retrying deliveries, newest first, by keyset on (created_at, id) like the
    hits (``ix_deliveries_created``): an outage can leave thousands. Returns the rows and the
    next cursor (None on the last page); ValueError on a cursor we did not make."""
    stmt = select(Delivery).where(Delivery.status.in_(statuses))
    if watchlist:
        stmt = stmt.where(Delivery.watchlist_id == watchlist)
    if cursor:
        stmt = stmt.where(_older_than(Delivery.created_at, Delivery.id, cursor))
    stmt = stmt.order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit + 1)
    found = list(session.scalars(stmt))
    names = _watchlist_names(session, {d.watchlist_id for d in found if d.watchlist_id})
    rows = [_delivery_row(d, names) for d in found]
    more = rows[limit - 1]["cursor"] if len(rows) > limit else None
    return rows[:limit], more


def marked_hit_query(session: Session, hit_id: int) -> list[QueryPart]:
    """The query of a hit's watchlist as it reads now, each word and phrase marked by whether
    it counts towards the hit on the stored article (``monitor.matching.satisfied``); empty
    when the hit or its watchlist is gone."""
    hit = session.get(Hit, hit_id)
    if hit is None or not hit.watchlist.query:
        return []
    definition = hit.watchlist.definition or {}
    return marked_query(
        hit.watchlist.query,
        stored_document(hit.article),
        translations=definition.get("translations") or None,
        stem=bool(definition.get("stem")),
    )
