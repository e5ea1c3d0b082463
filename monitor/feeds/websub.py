"""WebSub subscriptions: a feed's hub found, subscribed to, verified, and renewed.

WebSub (a W3C Recommendation) lets a publisher's hub push a feed's new entries to us the
moment they appear, instead of waiting for our next poll. The life of a subscription, one row
of ``websub_subscriptions`` per feed (the table is the queue, as everywhere else):

1. **Found.** A poll reads the feed's hub from the ``Link`` header or the document's
   ``<link rel="hub">`` (and its ``rel="self"``, the topic to subscribe to; else the feed's
   URL). With ``MONITOR_PUBLIC_URL`` set, :func:`note_hub` files a ``requested`` row with
   its own unguessable callback token and secret, due at once. Without a public URL the hub
   could not reach us, so nothing is filed.
2. **Requested.** The beat's tick runs :func:`subscribe` on each due row: the row is claimed
   by compare-and-set on its due time and committed *before* the request goes out (a hub may
   verify before it even answers), then ``hub.mode=subscribe`` is POSTed with
   ``hub.callback`` (``<public URL>/websub/<token>``), ``hub.topic``, ``hub.secret`` and
   ``hub.lease_seconds``. A refusal or a network error is recorded and retried with backoff.
3. **Verified.** The hub calls the callback with ``hub.challenge``: :func:`verify_intent`
   echoes it only for a subscription with a request outstanding and the same topic, so no
   third party can subscribe us to anything. The lease starts, ``feeds.websub_until`` is set
   (polling slows to ``MONITOR_WEBSUB_POLL_INTERVAL``, the fallback), and the renewal is
   due ``MONITOR_WEBSUB_RENEW_BEFORE`` before the lease ends (at half the lease at most).
4. **Pushed.** Content pushed to the callback is checked against ``X-Hub-Signature``
   (:mod:`monitor.feeds.signature`) and, when it holds, goes through the poll's own path
   (:mod:`monitor.feeds.push`).

A ``denied`` answer is kept with the hub's reason and asked again a day later. A lease that
ends without a renewal simply lets ``websub_until`` pass, and the feed is polled at its own
rate again.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.cas import compare_and_set
from monitor.config import Settings
from monitor.feeds.fetcher import FetchError, post_form
from monitor.feeds.parser import ParsedFeed
from monitor.logs import get_logger
from monitor.models import Feed, WebSubSubscription
from monitor.redaction import redact_url
from monitor.states import SubscriptionState

__all__ = [
    "CALLBACK_PREFIX",
    "Hub",
    "callback_url",
    "discover",
    "due_subscription_ids",
    "note_hub",
    "subscribe",
    "verify_intent",
]

log = get_logger(__name__)

CALLBACK_PREFIX = "/websub/"
# A request the hub has not verified within this long is sent again.
VERIFY_WAIT = timedelta(hours=1)
# After a failure: 5 minutes, doubling, at most a day.
RETRY_FIRST = 300.0
RETRY_CAP = 86_400.0
DENIED_RETRY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Hub:
    """Where a feed's updates are published: the hub, and the topic URL to subscribe to."""

    hub_url: str
    topic_url: str


# One link of a Link header: <url>; params. Good enough for the rel= lookup a hub needs:
# a URL with '>' or a quoted ',' in a parameter is rare, and a miss only means no push.
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""", re.IGNORECASE)


def discover(parsed: ParsedFeed, headers: Mapping[str, str], *, url: str) -> Hub | None:
    """The hub a feed names, in its ``Link`` header (which wins) or its document."""
    links: dict[str, str] = {}
    lower = {k.lower(): v for k, v in headers.items()}
    for target, params in _LINK.findall(lower.get("link", "")):
        rel = _REL.search(params)
        for name in ((rel.group(1) or rel.group(2)) if rel else "").lower().split():
            links.setdefault(name, urljoin(url, target.strip()))
    for link in _document_links(parsed):
        kind, href = str(link.get("rel", "")).lower(), str(link.get("href", "")).strip()
        if kind in ("hub", "self") and href:
            links.setdefault(kind, urljoin(url, href))
    hub = links.get("hub")
    if not hub or not hub.startswith(("http://", "https://")):
        return None
    topic = links.get("self") or url
    return Hub(hub, topic if topic.startswith(("http://", "https://")) else url)


def _document_links(parsed: ParsedFeed) -> list[Mapping[str, Any]]:
    links = parsed.feed.get("links") if parsed.feed else None
    return [link for link in links or [] if isinstance(link, Mapping)]


def note_hub(session: Session, feed_id: int, hub: Hub, *, now: datetime) -> None:
    """File (or refile, when the hub or topic changed) the feed's subscription, due now.
    The caller commits."""
    row = session.execute(
        select(WebSubSubscription).where(WebSubSubscription.feed_id == feed_id)
    ).scalar_one_or_none()
    if row is not None and (row.hub_url, row.topic_url) == (hub.hub_url, hub.topic_url):
        return
    if row is None:
        row = WebSubSubscription(
            feed_id=feed_id,
            callback_token=secrets.token_urlsafe(32),
            secret=secrets.token_hex(32),
            pushes=0,
            rejected_pushes=0,
            failures=0,
            created_at=now,
        )
        session.add(row)
    else:
        log.info("feed moved to another hub", feed=feed_id, hub=redact_url(hub.hub_url))
    row.hub_url, row.topic_url = hub.hub_url, hub.topic_url
    row.state = SubscriptionState.REQUESTED
    row.next_request_at = now
    row.requested_at = None
    row.failures = 0
    session.flush()


def callback_url(settings: Settings, token: str) -> str:
    assert settings.public_url, "WebSub needs MONITOR_PUBLIC_URL"
    return settings.public_url.rstrip("/") + CALLBACK_PREFIX + token


def due_subscription_ids(session: Session, *, now: datetime, limit: int = 100) -> list[int]:
    """Subscriptions whose (re)subscription request is due."""
    rows = session.execute(
        select(WebSubSubscription.id)
        .where(WebSubSubscription.next_request_at <= now)
        .order_by(WebSubSubscription.next_request_at)
        .limit(limit)
    )
    return [int(i) for i in rows.scalars()]


def subscribe(session: Session, subscription_id: int, *, settings: Settings, now: datetime) -> str:
    """Send one due subscription request; a one-line summary. Commits."""
    row = session.get(WebSubSubscription, subscription_id)
    if row is None or not settings.public_url:
        return f"subscription {subscription_id}: nothing to do"
    # The claim: only the worker that moves the due time sends. It is committed before the
    # request, so the hub's verification (which may come before its answer) finds the
    # request outstanding.
    claimed = compare_and_set(
        session,
        WebSubSubscription,
        WebSubSubscription.id == subscription_id,
        WebSubSubscription.next_request_at == row.next_request_at,
        next_request_at=now + VERIFY_WAIT,
        requested_at=now,
        state=(
            SubscriptionState.ACTIVE
            if row.state == SubscriptionState.ACTIVE
            else SubscriptionState.PENDING
        ),
    )
    session.commit()
    if not claimed:
        return f"subscription {subscription_id}: taken by another worker"
    session.refresh(row)
    form = {
        "hub.mode": "subscribe",
        "hub.callback": callback_url(settings, row.callback_token),
        "hub.topic": row.topic_url,
        "hub.secret": row.secret,
        "hub.lease_seconds": str(settings.websub_lease_seconds),
    }
    problem: str | None = None
    try:
        answer = post_form(row.hub_url, form, settings=settings)
    except FetchError as exc:
        problem = exc.message
    else:
        if not 200 <= answer.status < 300:
            text = answer.body.decode("utf-8", "replace").strip().splitlines()
            problem = f"the hub answered HTTP {answer.status}" + (
                f": {text[0][:200]}" if text else ""
            )
    hub = redact_url(row.hub_url)
    if problem is None:
        log.info("websub subscription requested", feed=row.feed_id, hub=hub)
        return f"subscription {subscription_id}: requested at {hub}"
    failures = row.failures + 1
    delay = min(RETRY_FIRST * 2 ** min(failures - 1, 20), RETRY_CAP)
    values: dict[str, Any] = {
        "failures": failures,
        "last_error": problem[:1000],
        "requested_at": None,
        "next_request_at": now + timedelta(seconds=delay),
    }
    if row.state != SubscriptionState.ACTIVE:
        # An active lease still holds until it ends; only a subscription not yet made fails.
        values["state"] = SubscriptionState.FAILED
    compare_and_set(
        session,
        WebSubSubscription,
        WebSubSubscription.id == subscription_id,
        WebSubSubscription.requested_at == now,
        **values,
    )
    session.commit()
    log.warning("websub subscription request failed", feed=row.feed_id, hub=hub, error=problem)
    return f"subscription {subscription_id}: failed: {problem}"


def verify_intent(
    session: Session, token: str, params: Mapping[str, str], *, settings: Settings, now: datetime
) -> str | None:
    """The hub's verification of intent (or its denial): the body to answer 200 with, or
    None for a 404, which tells the hub we did not ask for this. Commits."""
    row = session.execute(
        select(WebSubSubscription).where(WebSubSubscription.callback_token == token)
    ).scalar_one_or_none()
    if row is None or params.get("hub.topic") != row.topic_url:
        return None
    mode = params.get("hub.mode")
    if mode == "denied":
        reason = (params.get("hub.reason") or "no reason given").strip()[:300]
        row.state = SubscriptionState.DENIED
        row.last_error = f"denied by the hub: {reason}"
        row.requested_at = None
        row.lease_expires_at = None
        row.next_request_at = now + DENIED_RETRY
        _set_push_lease(session, row.feed_id, None)
        session.commit()
        log.warning("websub subscription denied", feed=row.feed_id, reason=reason)
        return ""
    challenge = params.get("hub.challenge")
    if mode != "subscribe" or row.requested_at is None or not challenge:
        # We never unsubscribe, and a verification with no request outstanding is not ours.
        return None
    lease = _lease(params.get("hub.lease_seconds"), default=settings.websub_lease_seconds)
    expires = now + timedelta(seconds=lease)
    row.state = SubscriptionState.ACTIVE
    row.lease_seconds = lease
    row.lease_expires_at = expires
    row.verified_at = now
    row.requested_at = None
    row.failures = 0
    row.last_error = None
    row.next_request_at = expires - timedelta(seconds=min(settings.websub_renew_before, lease / 2))
    _set_push_lease(session, row.feed_id, expires)
    session.commit()
    log.info("websub subscription verified", feed=row.feed_id, lease_seconds=lease)
    return challenge


def _lease(value: str | None, *, default: int) -> int:
    # The hub decides the lease; one it leaves out, or that is not a number, is ours.
    try:
        lease = int(value) if value else default
    except ValueError:
        lease = default
    return max(60, lease)


def _set_push_lease(session: Session, feed_id: int, until: datetime | None) -> None:
    session.execute(
        update(Feed)
        .where(Feed.id == feed_id)
        .values(websub_until=until)
        .execution_options(synchronize_session=False)
    )
