"""Composing messages: the message a delivery carries, built from the rows as they are now.

A digest is composed when it is sent, so it holds every hit attached up to that moment; a
follow-up and an escalation go into the thread of the first alert where Slack has one. The
message is plain data, escaped by each channel's renderer (:mod:`monitor.alerts.formatting`).
With ``MONITOR_PUBLIC_URL`` set, each item links to its hit's page and a digest or summary to
its hits on the dashboard (:mod:`monitor.alerts.links`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.links import hit_link, hits_list_link
from monitor.alerts.message import AlertItem, Message
from monitor.alerts.record import thread_parent
from monitor.models import Article, Delivery, DeliveryHit, Hit, HitArticle, Watchlist
from monitor.states import DeliveryKind

__all__ = ["build_message", "with_lost_attempt"]


def _item(
    session: Session,
    hit: Hit,
    *,
    article: Article | None = None,
    public_url: str | None = None,
    period: tuple[datetime, datetime] | None = None,
) -> AlertItem:
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
        also = list(dict.fromkeys(row.source_name for row in rows if row.source_name))
    watchlist = session.get(Watchlist, hit.watchlist_id)
    return AlertItem(
        watchlist_id=hit.watchlist_id,
        watchlist_name=(watchlist.name if watchlist and watchlist.name else hit.watchlist_id),
        title=shown.title or shown.url or "(untitled)",
        url=shown.url or "",
        source=shown.source_name,
        published_at=shown.published_at,
        snippet="" if article is not None else hit.snippet,
        highlights=() if article is not None else _highlights(hit.highlights),
        matched=tuple(str(t) for t in hit.matched),
        fields=tuple(str(f) for f in hit.fields),
        source_count=hit.source_count,
        also_reported_by=tuple(also),
        hit_id=hit.id,
        watchlist_query=watchlist.query if watchlist else "",
        hit_link=hit_link(public_url, hit.id),
        list_link=(
            hits_list_link(public_url, watchlist_id=hit.watchlist_id, period=period)
            if period is not None
            else None
        ),
    )


def _highlights(raw: Sequence[Any]) -> tuple[tuple[int, int], ...]:
    spans: list[tuple[int, int]] = []
    for span in raw or ():
        try:
            spans.append((int(span[0]), int(span[1])))
        except (TypeError, ValueError, IndexError):
            continue
    return tuple(spans)


def build_message(
    session: Session, delivery: Delivery, *, public_url: str | None = None
) -> Message:
    """The message a delivery carries, from the rows as they are now; with *public_url* (the
    dashboard's address), with links to its hits there."""
    if delivery.kind == DeliveryKind.OPS:
        return Message(
            kind=DeliveryKind.OPS,
            items=(),
            heading=str((delivery.payload or {}).get("heading", "")),
            delivery_id=delivery.id,
        )
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
    if delivery.kind == DeliveryKind.SPIKE:
        return _spike_message(session, delivery, hits, payload, public_url=public_url)
    if delivery.kind in (DeliveryKind.DIGEST, DeliveryKind.THROTTLE, DeliveryKind.SNOOZE):
        period = _period(payload)
        items = tuple(_item(session, hit, public_url=public_url, period=period) for hit in hits)
        watchlists = {item.watchlist_id for item in items}
        return Message(
            kind=DeliveryKind(delivery.kind),
            items=items,
            heading=_group_heading(delivery, items, payload),
            delivery_id=delivery.id,
            period=period,
            list_link=hits_list_link(
                public_url,
                # A digest of several watchlists links to every hit of its period.
                watchlist_id=next(iter(watchlists)) if len(watchlists) == 1 else None,
                period=period,
            ),
        )
    hit = hits[0]
    thread = thread_parent(session, hit.id, delivery.destination)
    if delivery.kind == DeliveryKind.FOLLOWUP:
        article = session.get(Article, int(payload.get("article_id", 0)))
        if article is None:
            raise LookupError("the article it reports was deleted")
        item = _item(session, hit, article=article, public_url=public_url)
        source = item.source or "another outlet"
        return Message(
            kind=DeliveryKind.FOLLOWUP,
            items=(item,),
            heading=f"Also reported by {source} ({hit.source_count} sources)",
            delivery_id=delivery.id,
            thread_ts=thread.provider_message_id if thread else None,
            thread_channel=thread.provider_channel if thread else None,
        )
    item = _item(session, hit, public_url=public_url)
    if delivery.kind == DeliveryKind.ESCALATION:
        # One number in the heading and in the item: the sources as they are now (a copy
        # attached while the escalation waited counts too), never the count it was made at.
        return Message(
            kind=DeliveryKind.ESCALATION,
            items=(item,),
            heading=f"Now reported by {item.source_count} sources",
            delivery_id=delivery.id,
            thread_ts=thread.provider_message_id if thread else None,
            thread_channel=thread.provider_channel if thread else None,
            # An escalation is news: shown in the channel too, not only in the thread.
            broadcast=True,
        )
    return Message(kind=DeliveryKind.INSTANT, items=(item,), delivery_id=delivery.id)


def _spike_message(
    session: Session,
    delivery: Delivery,
    hits: Sequence[Hit],
    payload: Mapping[str, Any],
    *,
    public_url: str | None,
) -> Message:
    """A spike: the count against the expected number, the top sources and terms in the
    heading, and the three headlines as its items (``monitor.trends.spike_alerts``)."""
    period = _period(payload)
    items = tuple(_item(session, hit, public_url=public_url, period=period) for hit in hits)
    sources = ", ".join(f"{name} ({count})" for name, count in payload.get("sources") or [])
    terms = ", ".join(str(term) for term in payload.get("terms") or [])
    heading = (
        f"Spike: {payload.get('name') or delivery.watchlist_id}: "
        f"{payload.get('observed')} stories in {payload.get('window')}, "
        f"expected {float(payload.get('expected') or 0):.1f}"
    )
    if sources:
        heading += f". Top sources: {sources}"
    if terms:
        heading += f". Top terms: {terms}"
    return Message(
        kind=DeliveryKind.SPIKE,
        items=items,
        heading=heading,
        delivery_id=delivery.id,
        period=period,
        list_link=hits_list_link(public_url, watchlist_id=delivery.watchlist_id, period=period),
    )


def with_lost_attempt(session: Session, delivery: Delivery, message: Message) -> Message:
    """*message*, marked when an earlier attempt may have reached the provider unrecorded
    (its worker died while sending), with the channel id this destination's messages went
    to before, so a channel that can look for it there does so before sending again."""
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
    if delivery.kind == DeliveryKind.SNOOZE:
        name = items[0].watchlist_name if items else delivery.watchlist_id or ""
        span = ""
        if period:
            span = f" ({period[0]:%d %b %H:%M} – {period[1]:%d %b %H:%M} UTC)"
        return f"{hits} while {name} was snoozed{span}"
    if delivery.kind == DeliveryKind.THROTTLE:
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
