"""A WebSub push received: its signature checked, then read as if a poll had fetched it.

The hub POSTs the feed's new content to our callback. It is taken only for an active
subscription and only when ``X-Hub-Signature`` is an HMAC of the body under that
subscription's secret (:mod:`monitor.feeds.signature`). A push that fails the check is
counted on the subscription and otherwise ignored; the hub still gets a 2xx, as WebSub asks
(section 8), so a forger learns nothing from the answer.

A verified push goes through :func:`monitor.feeds.poll.poll_feed` with the pushed body in
place of a fetched one, so it is parsed, normalised, deduplicated and stored by exactly the
rules of a poll, under the same claim. When a poll holds the feed at that moment, the feed is
made due at once instead: the topic is the feed, so the next poll reads what was pushed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.cas import update_where
from monitor.config import Settings
from monitor.feeds.fetcher import FetchResult
from monitor.feeds.poll import poll_feed
from monitor.feeds.signature import signature_valid
from monitor.logs import get_logger
from monitor.models import Feed, WebSubSubscription
from monitor.states import SubscriptionState

__all__ = ["PushOutcome", "receive_push"]

log = get_logger(__name__)

BAD_SIGNATURE = "a push whose X-Hub-Signature did not match was ignored"


@dataclass(slots=True)
class PushOutcome:
    # unknown: no active subscription has this callback (404); rejected: bad signature,
    # ignored (2xx); taken: stored by the poll path (or the feed made due at once).
    status: Literal["unknown", "rejected", "taken"]
    feed_id: int | None = None
    new_article_ids: list[int] = field(default_factory=list)


def receive_push(
    session: Session,
    token: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    settings: Settings,
    now: datetime,
) -> PushOutcome:
    """Check and take one push to the callback named by *token*. Commits."""
    row = session.execute(
        select(WebSubSubscription).where(WebSubSubscription.callback_token == token)
    ).scalar_one_or_none()
    if row is None or row.state != SubscriptionState.ACTIVE:
        return PushOutcome("unknown")
    lower = {k.lower(): v for k, v in headers.items()}
    feed_id = row.feed_id
    if not signature_valid(row.secret, body, lower.get("x-hub-signature")):
        row.rejected_pushes += 1
        row.last_error = BAD_SIGNATURE
        session.commit()
        log.warning("websub push ignored: bad signature", feed=feed_id)
        return PushOutcome("rejected", feed_id)
    row.pushes += 1
    row.last_push_at = now
    topic = row.topic_url
    session.commit()
    document = FetchResult(status=200, url=topic, headers=lower, body=body)
    outcome = poll_feed(session, feed_id, settings=settings, now=now, document=document)
    if outcome.outcome == "skipped":
        # A poll holds the feed: it, or the next one, reads the topic that was pushed.
        update_where(session, Feed, Feed.id == feed_id, next_poll_at=now)
        session.commit()
    log.info("websub push taken", feed=feed_id, outcome=outcome.outcome)
    return PushOutcome("taken", feed_id, list(outcome.new_article_ids))
