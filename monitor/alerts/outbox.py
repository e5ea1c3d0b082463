"""The outbox: hits and their deliveries as rows, and the life of each delivery.

Writing (:func:`record_hits`) happens in the caller's transaction, with the article marked
matched, so a hit never exists without its deliveries. Sending (:func:`deliver`) is one
delivery at a time:

1. claim it with a compare-and-set UPDATE (``pending``/``retrying`` and due → ``sending``,
   new ``claim_token``) and COMMIT, so only one worker ever sends it;
2. build the message from the rows (a digest gets every hit attached so far) and send it;
3. COMMIT the outcome at once: ``sent`` with the provider's id, or ``retrying`` with the next
   attempt time (exponential backoff with jitter, or the provider's ``Retry-After``), or
   ``failed`` with the reason; a permanent refusal also flags the :class:`Destination`, and
   deliveries to a flagged destination fail fast without sending until a person clears it.

A claim older than :data:`SEND_TIMEOUT` belongs to a worker that died; :func:`due_delivery_ids`
puts it back to ``retrying``. If that worker died after the provider accepted the message
and before step 3 committed, the message goes out a second time: see docs/alerts.md.

Digests and throttle summaries are deliveries in status ``scheduled`` with a ``due_at``;
:func:`open_due_digests` turns the due ones into ``pending``.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from monitor.alerts.channels import CHANNELS
from monitor.alerts.message import AlertItem, DeliveryError, Message, SendResult
from monitor.alerts.spec import AlertSpec, DigestSchedule, parse_destination, parse_throttle
from monitor.config import Settings
from monitor.logs import get_logger
from monitor.metrics import DELIVERIES, HITS
from monitor.models import (
    Article,
    Delivery,
    DeliveryHit,
    Destination,
    Hit,
    HitArticle,
    Watchlist,
    utcnow,
)

__all__ = [
    "SEND_TIMEOUT",
    "DeliveryOutcome",
    "backoff_seconds",
    "build_message",
    "deliver",
    "destinations_for",
    "digest_period",
    "due_delivery_ids",
    "open_due_digests",
    "parse_destinations",
    "record_hits",
    "retry_deliveries",
    "send_test",
]

log = get_logger(__name__)

# Longer than any channel's timeout (Slack 15 s, SMTP 30 s per command), so a claim this old
# can only be a worker that died or hung.
SEND_TIMEOUT = timedelta(minutes=5)
READY = ("pending", "retrying")
MAX_KEY = 400


class MatchResultLike(Protocol):
    """The attributes of ``monitor.matching.MatchResult`` the outbox reads."""

    @property
    def watchlist_id(self) -> str: ...
    @property
    def matched(self) -> Sequence[str]: ...
    @property
    def fields(self) -> Sequence[str]: ...
    @property
    def explanation(self) -> Mapping[str, Sequence[str]]: ...
    @property
    def snippet(self) -> str: ...
    @property
    def highlights(self) -> Sequence[Sequence[int]]: ...


class WatchlistLike(Protocol):
    """The attributes of ``monitor.watchlists.WatchlistSpec`` the outbox reads."""

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


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """The state of a delivery after one call to :func:`deliver`."""

    delivery_id: int
    status: str
    attempts: int = 0
    error: str | None = None
    next_attempt_at: datetime | None = None
    provider_message_id: str | None = None
    # False when another worker had it, or it was not due: nothing was sent by this call.
    claimed: bool = True

    @property
    def sent(self) -> bool:
        return self.status == "sent"

    def __str__(self) -> str:
        text = self.status if self.claimed else f"{self.status} (not claimed)"
        if self.error:
            text += f": {self.error}"
        if self.status == "retrying" and self.next_attempt_at:
            text += f" (next attempt {self.next_attempt_at.isoformat(timespec='seconds')})"
        return text


# -- destinations ---------------------------------------------------------------------------


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


def destinations_for(watchlist: WatchlistLike | None, settings: Settings) -> list[AlertSpec]:
    """The watchlist's own ``alerts:``, else the configured defaults, else the console."""
    alerts = list(watchlist.alerts) if watchlist is not None and watchlist.alerts else []
    if not alerts and settings.default_alerts.strip():
        alerts = parse_destinations(settings.default_alerts)
    if not alerts:
        alerts = [AlertSpec(console=True)]
    unique: dict[tuple[str, str | None], AlertSpec] = {}
    for alert in alerts:
        unique.setdefault((alert.key, alert.digest), alert)
    return list(unique.values())


def _ensure_destination(session: Session, alert: AlertSpec) -> None:
    if session.get(Destination, alert.key) is not None:
        return
    try:
        with session.begin_nested():
            session.add(Destination(key=alert.key, channel=alert.channel))
    except IntegrityError:
        pass  # another worker created it a moment ago


def _key(*parts: object) -> str:
    """A dedupe key; a very long one (many email addresses) is shortened by a hash."""
    text = ":".join(str(p) for p in parts)
    if len(text) <= MAX_KEY:
        return text
    return text[: MAX_KEY - 41] + "#" + hashlib.sha1(text.encode()).hexdigest()  # noqa: S324


# -- writing hits -------------------------------------------------------------------------


def record_hits(
    session: Session,
    article: Article,
    results: Sequence[MatchResultLike],
    *,
    watchlists: Mapping[str, WatchlistLike],
    settings: Settings,
    now: datetime | None = None,
) -> list[int]:
    """Store a hit per result and its deliveries, in the caller's transaction (no commit).

    Returns the ids of the deliveries to send now; digests and throttle summaries wait for
    :func:`open_due_digests`. Recording the same article again adds nothing.
    """
    now = now or utcnow()
    _open_transaction(session)
    delivery_ids: list[int] = []
    for result in results:
        watchlist = watchlists.get(result.watchlist_id)
        delivery_ids.extend(_record_one(session, article, result, watchlist, settings, now))
    return delivery_ids


def _open_transaction(session: Session) -> None:
    """Make sure the caller's transaction is open in the database itself.

    Python's sqlite3 sends BEGIN only before an INSERT, UPDATE or DELETE. A SAVEPOINT sent
    first (the hit's insert is one) starts a transaction of its own, and its RELEASE commits:
    the hit would be stored for good while its deliveries could still be rolled back."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    dbapi = connection.connection.dbapi_connection
    if dbapi is not None and not dbapi.in_transaction:
        connection.exec_driver_sql("BEGIN")


def _record_one(
    session: Session,
    article: Article,
    result: MatchResultLike,
    watchlist: WatchlistLike | None,
    settings: Settings,
    now: datetime,
) -> list[int]:
    watchlist_id = result.watchlist_id
    existing = session.scalar(
        select(Hit.id).where(Hit.watchlist_id == watchlist_id, Hit.article_id == article.id)
    )
    if existing is not None:
        return []
    if article.story_id is not None:
        earlier = session.scalars(
            select(Hit)
            .where(
                Hit.watchlist_id == watchlist_id,
                Hit.story_id == article.story_id,
                Hit.created_at >= now - timedelta(hours=settings.story_window_hours),
            )
            .order_by(Hit.created_at, Hit.id)
            .limit(1)
        ).first()
        if earlier is not None:
            return _attach_to_story(session, earlier, article, watchlist, settings, now)

    hit = Hit(
        watchlist_id=watchlist_id,
        article_id=article.id,
        story_id=article.story_id,
        created_at=now,
        matched=list(result.matched),
        fields=list(result.fields),
        explanation={k: list(v) for k, v in result.explanation.items()},
        snippet=result.snippet,
        highlights=[list(span) for span in result.highlights],
        source_count=1,
    )
    try:
        with session.begin_nested():
            session.add(hit)
    except IntegrityError:
        # The same article recorded by another worker at the same moment is fine; anything
        # else (the watchlist row missing) is a bug the caller must hear about.
        if (
            session.scalar(
                select(Hit.id).where(Hit.watchlist_id == watchlist_id, Hit.article_id == article.id)
            )
            is None
        ):
            raise
        return []
    HITS.labels(watchlist_id).inc()

    throttled = _throttled(session, hit, watchlist, now)
    ids: list[int] = []
    for alert in destinations_for(watchlist, settings):
        _ensure_destination(session, alert)
        schedule = alert.schedule
        if schedule is not None:
            ids.extend(_attach_digest(session, hit, alert, schedule, now))
        elif throttled is not None:
            ids.extend(_attach_throttle(session, hit, alert, throttled, now))
        else:
            ids.append(_new_delivery(session, hit, alert, kind="instant", now=now))
    return ids


def _new_delivery(
    session: Session,
    hit: Hit,
    alert: AlertSpec,
    *,
    kind: str,
    now: datetime,
    key: str | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    dedupe = key or _key(kind if kind != "instant" else "hit", hit.id, alert.key)
    delivery = Delivery(
        dedupe_key=dedupe,
        kind=kind,
        hit_id=hit.id,
        watchlist_id=hit.watchlist_id,
        destination=alert.key,
        channel=alert.channel,
        status="pending",
        next_attempt_at=now,
        payload=payload or {},
        created_at=now,
    )
    if not _insert_with_hit(session, delivery, hit):
        return int(session.scalar(select(Delivery.id).where(Delivery.dedupe_key == dedupe)) or 0)
    return delivery.id


def _insert_with_hit(session: Session, delivery: Delivery, hit: Hit) -> bool:
    """Insert *delivery* with *hit* attached, in a savepoint. False, with nothing written, when
    a delivery with its dedupe key exists already (another worker, or a redelivered task)."""
    try:
        with session.begin_nested():
            session.add(delivery)
            session.flush()
            session.add(DeliveryHit(delivery_id=delivery.id, hit_id=hit.id))
    except IntegrityError:
        return False
    return True


def _attach_grouped(
    session: Session,
    hit: Hit,
    alert: AlertSpec,
    *,
    kind: str,
    key: str,
    due_at: datetime,
    watchlist_id: str | None,
    payload: dict[str, Any],
    now: datetime,
) -> list[int]:
    """Attach *hit* to the open grouped delivery *key*, creating it if needed. Returns [] or,
    when the group was already opened (its period closed under us), the id of an instant
    delivery sent in its place, so the hit is never dropped."""
    for _ in range(3):
        group_id = session.scalar(select(Delivery.id).where(Delivery.dedupe_key == key))
        if group_id is None:
            group = Delivery(
                dedupe_key=key,
                kind=kind,
                watchlist_id=watchlist_id,
                destination=alert.key,
                channel=alert.channel,
                status="scheduled",
                due_at=due_at,
                next_attempt_at=due_at,
                payload=payload,
                created_at=now,
            )
            if not _insert_with_hit(session, group, hit):
                continue  # created by another worker: attach to theirs
            return []
        # A compare-and-set touch: it only matches while the group is still scheduled, and on
        # PostgreSQL it holds the row until we commit, so open_due_digests cannot open (and
        # render) the group without this hit.
        touched = session.execute(
            update(Delivery)
            .where(Delivery.id == group_id, Delivery.status == "scheduled")
            .values(due_at=Delivery.due_at)
            .execution_options(synchronize_session=False)
        )
        if touched.rowcount == 1:  # type: ignore[attr-defined]
            session.add(DeliveryHit(delivery_id=group_id, hit_id=hit.id))
            session.flush()
            return []
        break
    return [_new_delivery(session, hit, alert, kind="instant", now=now)]


def digest_period(schedule: DigestSchedule, now: datetime) -> tuple[datetime, datetime]:
    """The [start, end) of the digest period holding *now*, in UTC. ``hourly`` periods are
    clock hours; ``daily HH:MM Zone`` periods run from HH:MM local time to the next one, which
    is computed from the local date so a DST change is handled by the zone database."""
    now = now.astimezone(UTC)
    if schedule.every == "hourly" or schedule.at is None:
        start = now.replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(hours=1)
    zone = ZoneInfo(schedule.tz)
    local = now.astimezone(zone)
    day = local.date()
    start_local = datetime.combine(day, schedule.at, tzinfo=zone)
    if start_local > local:
        day -= timedelta(days=1)
        start_local = datetime.combine(day, schedule.at, tzinfo=zone)
    end_local = datetime.combine(day + timedelta(days=1), schedule.at, tzinfo=zone)
    return start_local.astimezone(UTC), end_local.astimezone(UTC)


def _schedule_label(schedule: DigestSchedule) -> str:
    if schedule.every == "hourly" or schedule.at is None:
        return "hourly"
    return f"daily {schedule.at.strftime('%H:%M')} {schedule.tz}"


def _attach_digest(
    session: Session, hit: Hit, alert: AlertSpec, schedule: DigestSchedule, now: datetime
) -> list[int]:
    # One digest per destination, schedule and period, shared by every watchlist that sends
    # there on that schedule: the reader gets one message, grouped by watchlist.
    start, end = digest_period(schedule, now)
    label = _schedule_label(schedule)
    return _attach_grouped(
        session,
        hit,
        alert,
        kind="digest",
        key=_key("digest", alert.key, label, start.isoformat()),
        due_at=end,
        watchlist_id=None,
        payload={
            "schedule": label,
            "tz": schedule.tz,
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
        now=now,
    )


@dataclass(frozen=True, slots=True)
class _Window:
    start: datetime
    end: datetime
    limit: int
    text: str


def _throttled(
    session: Session, hit: Hit, watchlist: WatchlistLike | None, now: datetime
) -> _Window | None:
    """The throttle window when this hit is past the watchlist's limit, else None.

    Windows are fixed (clock minutes, hours or UTC days), so a summary has a clear end time.
    Two workers counting at the same instant may both let one hit through: the limit is a
    guard against floods, not an exact quota."""
    if watchlist is None or not watchlist.throttle:
        return None
    throttle = parse_throttle(watchlist.throttle)
    epoch = int(now.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % throttle.period_seconds, UTC)
    end = start + timedelta(seconds=throttle.period_seconds)
    earlier = session.scalar(
        select(func.count(Hit.id)).where(
            Hit.watchlist_id == hit.watchlist_id,
            Hit.created_at >= start,
            Hit.created_at < end,
            Hit.id != hit.id,
        )
    )
    if int(earlier or 0) < throttle.limit:
        return None
    return _Window(start, end, throttle.limit, throttle.text)


def _attach_throttle(
    session: Session, hit: Hit, alert: AlertSpec, window: _Window, now: datetime
) -> list[int]:
    return _attach_grouped(
        session,
        hit,
        alert,
        kind="throttle",
        key=_key("throttle", hit.watchlist_id, alert.key, window.start.isoformat()),
        due_at=window.end,
        watchlist_id=hit.watchlist_id,
        payload={
            "throttle": window.text,
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
        },
        now=now,
    )


def _attach_to_story(
    session: Session,
    hit: Hit,
    article: Article,
    watchlist: WatchlistLike | None,
    settings: Settings,
    now: datetime,
) -> list[int]:
    """A later copy of a story this watchlist already alerted on: no new hit, no new alert.
    The copy is listed under the first hit, its source count goes up, and when the count
    reaches ``escalate_at`` one follow-up goes to every destination."""
    if hit.article_id == article.id:
        return []
    if session.get(HitArticle, (hit.id, article.id)) is not None:
        return []
    try:
        with session.begin_nested():
            session.add(HitArticle(hit_id=hit.id, article_id=article.id, attached_at=now))
    except IntegrityError:
        return []
    session.execute(
        update(Hit)
        .where(Hit.id == hit.id)
        .values(source_count=Hit.source_count + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(hit)
    ids: list[int] = []
    alerts = destinations_for(watchlist, settings)
    # Where the first alert is already a Slack message, the copy goes in its thread: quiet
    # (thread replies do not notify the channel) and in context.
    for alert in alerts:
        if (
            alert.channel == "slack"
            and alert.schedule is None
            and _thread_parent(session, hit.id, alert.key)
        ):
            ids.append(
                _new_delivery(
                    session,
                    hit,
                    alert,
                    kind="followup",
                    now=now,
                    key=_key("followup", hit.id, article.id, alert.key),
                    payload={"article_id": article.id},
                )
            )
    escalate_at = watchlist.escalate_at if watchlist is not None else None
    if escalate_at and hit.source_count >= escalate_at:
        first_time = session.execute(
            update(Hit)
            .where(Hit.id == hit.id, Hit.escalated_at.is_(None))
            .values(escalated_at=now)
            .execution_options(synchronize_session=False)
        )
        if first_time.rowcount == 1:  # type: ignore[attr-defined]
            session.refresh(hit)
            for alert in alerts:
                _ensure_destination(session, alert)
                ids.append(
                    _new_delivery(
                        session,
                        hit,
                        alert,
                        kind="escalation",
                        now=now,
                        payload={"source_count": hit.source_count},
                    )
                )
    return ids


def _thread_parent(session: Session, hit_id: int, destination: str) -> Delivery | None:
    return session.scalars(
        select(Delivery)
        .where(
            Delivery.hit_id == hit_id,
            Delivery.kind == "instant",
            Delivery.destination == destination,
            Delivery.channel == "slack",
            Delivery.status == "sent",
            Delivery.provider_message_id.is_not(None),
        )
        .order_by(Delivery.id)
        .limit(1)
    ).first()


# -- building messages ------------------------------------------------------------------------


def _source_name(article: Article) -> str:
    if article.source_feed is not None:
        return article.source_feed.display_name
    return urlsplit(article.url or "").hostname or ""


def _item(session: Session, hit: Hit, *, article: Article | None = None) -> AlertItem:
    shown = article or hit.article
    also: list[str] = []
    if article is None:
        rows = session.scalars(
            select(Article)
            .join(HitArticle, HitArticle.article_id == Article.id)
            .where(HitArticle.hit_id == hit.id)
            .order_by(HitArticle.attached_at)
            .limit(10)
        ).all()
        also = list(dict.fromkeys(name for name in map(_source_name, rows) if name))
    watchlist = session.get(Watchlist, hit.watchlist_id)
    return AlertItem(
        watchlist_id=hit.watchlist_id,
        watchlist_name=(watchlist.name if watchlist and watchlist.name else hit.watchlist_id),
        title=shown.title or shown.url or "(untitled)",
        url=shown.url or "",
        source=_source_name(shown),
        published_at=shown.published_at,
        snippet="" if article is not None else hit.snippet,
        highlights=() if article is not None else _highlights(hit.highlights),
        matched=tuple(str(t) for t in hit.matched),
        fields=tuple(str(f) for f in hit.fields),
        source_count=hit.source_count,
        also_reported_by=tuple(also),
        hit_id=hit.id,
    )


def _highlights(raw: Sequence[Any]) -> tuple[tuple[int, int], ...]:
    spans: list[tuple[int, int]] = []
    for span in raw or ():
        try:
            spans.append((int(span[0]), int(span[1])))
        except (TypeError, ValueError, IndexError):
            continue
    return tuple(spans)


def build_message(session: Session, delivery: Delivery) -> Message:
    """The message a delivery carries, from the rows as they are now."""
    hits = list(
        session.scalars(
            select(Hit)
            .join(DeliveryHit, DeliveryHit.hit_id == Hit.id)
            .where(DeliveryHit.delivery_id == delivery.id)
            .order_by(Hit.created_at, Hit.id)
        )
    )
    if not hits and delivery.hit_id is not None:
        single = session.get(Hit, delivery.hit_id)
        hits = [single] if single is not None else []
    if not hits:
        raise LookupError("its hits were deleted")
    payload = delivery.payload or {}
    if delivery.kind in ("digest", "throttle"):
        items = tuple(_item(session, hit) for hit in hits)
        return Message(
            kind="digest" if delivery.kind == "digest" else "throttle",
            items=items,
            heading=_group_heading(delivery, items, payload),
            delivery_id=delivery.id,
            period=_period(payload),
        )
    hit = hits[0]
    thread = _thread_parent(session, hit.id, delivery.destination)
    if delivery.kind == "followup":
        article = session.get(Article, int(payload.get("article_id", 0)))
        if article is None:
            raise LookupError("the article it reports was deleted")
        item = _item(session, hit, article=article)
        source = item.source or "another outlet"
        return Message(
            kind="followup",
            items=(item,),
            heading=f"Also reported by {source} ({hit.source_count} sources)",
            delivery_id=delivery.id,
            thread_ts=thread.provider_message_id if thread else None,
            thread_channel=thread.provider_channel if thread else None,
        )
    item = _item(session, hit)
    if delivery.kind == "escalation":
        count = int(payload.get("source_count", hit.source_count))
        return Message(
            kind="escalation",
            items=(item,),
            heading=f"Now reported by {count} sources",
            delivery_id=delivery.id,
            thread_ts=thread.provider_message_id if thread else None,
            thread_channel=thread.provider_channel if thread else None,
            # An escalation is news: shown in the channel too, not only in the thread.
            broadcast=True,
        )
    return Message(kind="instant", items=(item,), delivery_id=delivery.id)


def _with_lost_attempt(session: Session, delivery: Delivery, message: Message) -> Message:
    since = (delivery.payload or {}).get("unconfirmed_since")
    if not since:
        return message
    known = session.scalar(
        select(Delivery.provider_channel)
        .where(
            Delivery.destination == delivery.destination,
            Delivery.provider_channel.is_not(None),
        )
        .order_by(Delivery.id.desc())
        .limit(1)
    )
    return replace(
        message, unconfirmed_since=datetime.fromisoformat(str(since)), known_channel=known
    )


def _period(payload: Mapping[str, Any]) -> tuple[datetime, datetime] | None:
    try:
        return datetime.fromisoformat(payload["start"]), datetime.fromisoformat(payload["end"])
    except (KeyError, TypeError, ValueError):
        return None


def _group_heading(
    delivery: Delivery, items: Sequence[AlertItem], payload: Mapping[str, Any]
) -> str:
    period = _period(payload)
    count = len(items)
    hits = "1 hit" if count == 1 else f"{count} hits"
    if delivery.kind == "throttle":
        name = items[0].watchlist_name if items else delivery.watchlist_id or ""
        limit = payload.get("throttle", "")
        span = ""
        if period:
            span = f" between {period[0]:%H:%M} and {period[1]:%H:%M} UTC"
        return (
            f"{count} more hit{'s' if count != 1 else ''} for {name}{span} (throttled at {limit})"
        )
    watchlists = len({item.watchlist_id for item in items})
    spread = f" in {watchlists} watchlists" if watchlists > 1 else f" for {items[0].watchlist_name}"
    schedule = str(payload.get("schedule", "digest"))
    if period is None:
        return f"Digest: {hits}{spread}"
    zone = ZoneInfo(str(payload.get("tz") or "UTC"))
    start, end = period[0].astimezone(zone), period[1].astimezone(zone)
    if schedule == "hourly":
        when = f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"
        return f"Hourly digest {when}: {hits}{spread}"
    when = f"{start:%d %b %H:%M} – {end:%d %b %H:%M} ({zone.key})"
    return f"Daily digest {when}: {hits}{spread}"


# -- sending ------------------------------------------------------------------------------------


def backoff_seconds(
    attempts: int, settings: Settings, *, rng: random.Random | None = None
) -> float:
    """Exponential backoff with jitter: between half and all of ``base * 2**(attempts-1)``,
    capped. The jitter spreads out deliveries that failed together (a Slack outage) so they do
    not all come back at the same second."""
    ceiling = min(
        settings.delivery_backoff_cap, settings.delivery_backoff_base * 2 ** max(0, attempts - 1)
    )
    return (rng or random).uniform(ceiling / 2, ceiling)


def deliver(
    session: Session, delivery_id: int, *, settings: Settings, now: datetime | None = None
) -> DeliveryOutcome:
    """Claim one delivery, send it, record the outcome. Commits (the claim, then the outcome)."""
    now = now or utcnow()
    token = secrets.token_hex(16)
    claimed = session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status.in_(READY),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        )
        .values(status="sending", claim_token=token, claimed_at=now, attempts=Delivery.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    # Committed before sending: from here on, no other worker will send this delivery.
    session.commit()
    delivery = session.execute(
        select(Delivery).where(Delivery.id == delivery_id).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if delivery is None:
        return DeliveryOutcome(delivery_id, "missing", claimed=False)
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return _outcome(delivery, claimed=False)

    bound = log.bind(
        delivery_id=delivery.id,
        hit_id=delivery.hit_id,
        watchlist=delivery.watchlist_id,
        channel=delivery.channel,
        destination=delivery.destination,
        kind=delivery.kind,
    )
    destination = session.execute(
        select(Destination)
        .where(Destination.key == delivery.destination)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if destination is not None and destination.failed_at is not None:
        reason = (
            f"destination {destination.key} is flagged as broken "
            f"({destination.last_error or 'no reason recorded'}); "
            "fix it, then run: monitor alerts retry --failed"
        )
        return _finish(session, delivery, token, now, "failed", reason, bound, metric="skipped")

    sender = CHANNELS.get(delivery.channel)
    try:
        if sender is None:
            raise LookupError(f"no channel named {delivery.channel!r}")
        alert = parse_destination(delivery.destination)
        message = _with_lost_attempt(session, delivery, build_message(session, delivery))
    except (LookupError, ValueError) as exc:
        return _finish(
            session, delivery, token, now, "failed", f"cannot build the message: {exc}", bound
        )

    try:
        result = sender(message, alert, settings=settings)
    except DeliveryError as exc:
        error = exc
    except Exception as exc:
        # A bug in a channel must not leave the claim hanging; it is retried like an outage.
        bound.exception("channel raised an unexpected error")
        error = DeliveryError(
            f"internal error in the {delivery.channel} channel: {type(exc).__name__}",
            permanent=False,
        )
    else:
        return _record_sent(session, delivery, token, now, result, bound)
    return _record_failure(session, delivery, token, now, error, settings, bound)


def _record_sent(
    session: Session,
    delivery: Delivery,
    token: str,
    now: datetime,
    result: SendResult,
    bound: Any,
) -> DeliveryOutcome:
    values = {
        "status": "sent",
        "sent_at": now,
        "last_error": None,
        "claim_token": None,
        "next_attempt_at": None,
        "provider_message_id": result.provider_message_id,
        "provider_channel": result.provider_channel,
    }
    done = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.claim_token == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        # Our claim was taken for stale while we sent (a very slow provider): record the send
        # anyway so nobody sends it a third time.
        bound.warning("claim was recovered while sending; recording the send anyway")
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id, Delivery.status != "sent")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(Destination)
        .where(Destination.key == delivery.destination)
        .values(last_success_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    DELIVERIES.labels(delivery.channel, "sent").inc()
    bound.info(
        "alert sent", provider_message_id=result.provider_message_id, attempts=delivery.attempts
    )
    session.refresh(delivery)
    return _outcome(delivery)


def _record_failure(
    session: Session,
    delivery: Delivery,
    token: str,
    now: datetime,
    error: DeliveryError,
    settings: Settings,
    bound: Any,
) -> DeliveryOutcome:
    if error.permanent:
        if error.destination_broken:
            session.execute(
                update(Destination)
                .where(Destination.key == delivery.destination)
                .values(failed_at=now, last_error=error.message)
                .execution_options(synchronize_session=False)
            )
        return _finish(session, delivery, token, now, "failed", error.message, bound)
    if delivery.attempts >= settings.delivery_max_attempts:
        reason = f"gave up after {delivery.attempts} attempts: {error.message}"
        return _finish(session, delivery, token, now, "failed", reason, bound)
    if error.retry_after is not None:
        # The provider said when: that is the wait, not our guess.
        delay = error.retry_after
    else:
        delay = backoff_seconds(delivery.attempts, settings)
    return _finish(
        session,
        delivery,
        token,
        now,
        "retrying",
        error.message,
        bound,
        next_attempt_at=now + timedelta(seconds=delay),
    )


def _finish(
    session: Session,
    delivery: Delivery,
    token: str,
    now: datetime,
    status: str,
    error: str,
    bound: Any,
    *,
    next_attempt_at: datetime | None = None,
    metric: str | None = None,
) -> DeliveryOutcome:
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.claim_token == token)
        .values(status=status, last_error=error, claim_token=None, next_attempt_at=next_attempt_at)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    DELIVERIES.labels(delivery.channel, metric or status).inc()
    if status == "failed":
        bound.warning("alert failed", error=error, attempts=delivery.attempts)
    else:
        bound.info(
            "alert will be retried",
            error=error,
            attempts=delivery.attempts,
            next_attempt_at=next_attempt_at.isoformat() if next_attempt_at else None,
        )
    session.refresh(delivery)
    return _outcome(delivery)


def _outcome(delivery: Delivery, *, claimed: bool = True) -> DeliveryOutcome:
    return DeliveryOutcome(
        delivery_id=delivery.id,
        status=delivery.status,
        attempts=delivery.attempts,
        error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at,
        provider_message_id=delivery.provider_message_id,
        claimed=claimed,
    )


# -- the sweep, digests and retries ------------------------------------------------------------


def due_delivery_ids(
    session: Session, *, now: datetime | None = None, limit: int = 1000
) -> list[int]:
    """Deliveries to send now: due ``pending``/``retrying`` ones, after putting back the
    claims of workers that died while sending (older than :data:`SEND_TIMEOUT`). Does not
    commit; the caller does."""
    now = now or utcnow()
    stale = session.execute(
        select(Delivery.id, Delivery.claim_token, Delivery.claimed_at, Delivery.payload).where(
            Delivery.status == "sending", Delivery.claimed_at < now - SEND_TIMEOUT
        )
    ).all()
    for delivery_id, token, claimed_at, payload in stale:
        # Remember when the lost attempt began: before sending again, a channel that can
        # list what it already accepted (Slack) looks for it there.
        marked = dict(payload or {})
        if claimed_at is not None and "unconfirmed_since" not in marked:
            marked["unconfirmed_since"] = claimed_at.isoformat()
        recovered = session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.status == "sending",
                Delivery.claim_token == token,
            )
            .values(
                status="retrying",
                claim_token=None,
                next_attempt_at=now,
                payload=marked,
                last_error="the worker sending it stopped before recording the outcome; "
                "sending again (it may have gone out once already)",
            )
            .execution_options(synchronize_session=False)
        )
        if recovered.rowcount == 1:  # type: ignore[attr-defined]
            log.warning("recovered a lost delivery claim", delivery_id=delivery_id)
    rows = session.scalars(
        select(Delivery.id)
        .where(
            Delivery.status.in_(READY),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    return list(rows)


def open_due_digests(session: Session, *, now: datetime | None = None) -> list[int]:
    """Scheduled digests and throttle summaries whose time has come become ``pending``;
    returns their ids (to send now). Does not commit; the caller does."""
    now = now or utcnow()
    due = session.scalars(
        select(Delivery.id)
        .where(Delivery.status == "scheduled", Delivery.due_at <= now)
        .order_by(Delivery.due_at, Delivery.id)
    ).all()
    opened: list[int] = []
    for delivery_id in due:
        result = session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == "scheduled")
            .values(status="pending", next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            opened.append(delivery_id)
    return opened


def retry_deliveries(
    session: Session,
    ids: Sequence[int] | None = None,
    *,
    failed: bool = False,
    now: datetime | None = None,
) -> int:
    """Queue deliveries again: the given ids (failed or waiting to retry) and, with
    ``failed=True``, every failed one. Clears the flag of their destinations, since a person
    says the cause is fixed. Returns how many were queued. Does not commit."""
    now = now or utcnow()
    conditions: list[ColumnElement[bool]] = []
    if ids:
        conditions.append(
            (Delivery.id.in_(list(ids))) & Delivery.status.in_(("failed", "retrying"))
        )
    if failed:
        conditions.append(Delivery.status == "failed")
    if not conditions:
        return 0
    chosen = session.execute(
        select(Delivery.id, Delivery.destination).where(or_(*conditions))
    ).all()
    if not chosen:
        return 0
    chosen_ids = [row[0] for row in chosen]
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(chosen_ids), Delivery.status.in_(("failed", "retrying")))
        .values(status="pending", next_attempt_at=now, attempts=0, claim_token=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Destination)
        .where(Destination.key.in_({row[1] for row in chosen}))
        .values(failed_at=None, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return len(chosen_ids)


def send_test(destination: str, *, settings: Settings) -> SendResult:
    """Send a test message to ``slack:#desk``, ``webhook:VAR``, ``email:a@x.org`` or
    ``console``, without the outbox; raises :class:`DeliveryError` or ``ValueError``."""
    alert = parse_destination(destination)
    item = AlertItem(
        watchlist_id="test",
        watchlist_name="monitor test",
        title="Test alert: this destination works",
        source="monitor",
        published_at=utcnow(),
        snippet="If you can read this, alerts for this destination will arrive here.",
        highlights=((22, 28),),
    )
    message = Message(kind="test", items=(item,), heading="Test alert from monitor")
    return CHANNELS[alert.channel](message, alert, settings=settings)
