"""WebSub end to end on loopback: a feed server, the hub stand-in, and the real dashboard
(uvicorn) as the callback. The feed names the hub; the service subscribes, echoes the
challenge, renews, and takes signed pushes through the poll path to hits and alerts."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.feeds import poll_feed, websub
from monitor.feeds.parser import ParsedFeed
from monitor.feeds.poll import claim_feed
from monitor.feeds.signature import sign
from monitor.models import Article, Delivery, Feed, Hit, Watchlist, WebSubSubscription, utcnow
from monitor.states import DeliveryStatus, SubscriptionState
from tests.conftest import make_settings
from tests.feeds.conftest import add_feed
from tests.support.feedserver import FeedServer
from tests.support.websub_hub import Subscription, WebSubHub

ATOM = "http://www.w3.org/2005/Atom"


def document(hub: str, topic: str, *items: tuple[str, str]) -> bytes:
    """An RSS document naming *hub* and its own *topic*; each item is (guid, title)."""
    now = format_datetime(utcnow())
    body = "".join(
        f"<item><guid isPermaLink='false'>{escape(guid)}</guid><title>{escape(title)}</title>"
        f"<link>https://news.example.org/{escape(guid)}</link><pubDate>{now}</pubDate></item>"
        for guid, title in items
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0' xmlns:atom='{ATOM}'><channel><title>W</title>"
        f"<link>https://news.example.org/</link>"
        f"<atom:link rel='hub' href='{escape(hub)}'/><atom:link rel='self' href='{escape(topic)}'/>"
        f"{body}</channel></rss>"
    ).encode()


@dataclass
class World:
    settings: Settings
    hub: WebSubHub
    feeds: FeedServer
    db: Session
    feed_id: int
    topic: str

    def subscribe_due(self) -> list[str]:
        due = websub.due_subscription_ids(self.db, now=utcnow())
        return [websub.subscribe(self.db, i, settings=self.settings, now=utcnow()) for i in due]

    def subscription(self) -> WebSubSubscription:
        # A new transaction: SQLite's snapshot would otherwise hide the callback's writes.
        self.db.commit()
        self.db.expire_all()
        return self.db.execute(select(WebSubSubscription)).scalar_one()

    def feed(self) -> Feed:
        self.db.commit()
        return self.db.get_one(Feed, self.feed_id, populate_existing=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    """Each test on SQLite and on PostgreSQL."""
    port = _free_port()
    watchlists = tmp_path / "watchlists"
    watchlists.mkdir()
    (watchlists / "naira.yaml").write_text("query: naira\n", encoding="utf-8")
    settings = make_settings(
        tmp_path,
        database_url=database_url,
        public_url=f"http://127.0.0.1:{port}",
        watchlists=watchlists,
        websub_lease_seconds=7200,
        websub_renew_before=600,
        websub_poll_interval=3600,
    )
    storage.upgrade(settings)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    with WebSubHub() as hub, FeedServer() as feeds, storage.sessionmaker_for(settings)() as db:
        topic = feeds.url("/rss")
        feeds.set("/rss", document(hub.url, topic, ("old", "Old news")))
        feed = add_feed(db, topic)
        yield World(settings, hub, feeds, db, feed.id, topic)
    server.should_exit = True
    thread.join(10)


def verified(world: World) -> Subscription:
    poll_feed(world.db, world.feed_id, settings=world.settings, now=utcnow())
    assert world.subscription().state == SubscriptionState.REQUESTED
    world.subscribe_due()
    sub = world.hub.wait_for_subscription(world.topic)
    deadline = time.monotonic() + 5
    while world.subscription().state != SubscriptionState.ACTIVE and time.monotonic() < deadline:
        time.sleep(0.02)
    return sub


def wait_until(check: object, what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_it_subscribes_to_the_hub_a_feed_names_and_echoes_the_challenge(world: World) -> None:
    sub = verified(world)

    form = world.hub.forms[0]
    assert form["hub.mode"] == "subscribe"
    assert form["hub.topic"] == world.topic
    assert form["hub.callback"].startswith(world.settings.public_url + "/websub/")
    assert form["hub.lease_seconds"] == "7200"
    assert len(form["hub.secret"]) >= 32
    assert sub.verified and sub.verification_body == sub.challenge
    row = world.subscription()
    assert row.state == SubscriptionState.ACTIVE and row.lease_seconds == 7200
    assert row.secret == form["hub.secret"] and row.requested_at is None
    assert row.lease_expires_at is not None
    assert world.feed().websub_until == row.lease_expires_at
    # The renewal is due before the lease ends.
    assert row.next_request_at == row.lease_expires_at - timedelta(seconds=600)


def test_it_answers_404_to_a_verification_it_did_not_ask_for(world: World) -> None:
    sub = verified(world)
    # No request outstanding any more: a replayed or forged 'subscribe' is refused.
    again = world.hub.ask(sub, mode="subscribe", lease_seconds=60)
    assert again.status_code == 404 and again.text != sub.challenge
    # A topic we did not ask for, at a real callback.
    assert world.hub.ask(sub, mode="subscribe", topic="http://evil.test/").status_code == 404
    # We never unsubscribe.
    assert world.hub.ask(sub, mode="unsubscribe").status_code == 404
    # A callback that names no subscription.
    stranger = Subscription(world.settings.public_url + "/websub/nope", world.topic, "s", None)
    assert world.hub.ask(stranger, mode="subscribe").status_code == 404
    assert world.subscription().lease_seconds == 7200


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_it_matches_and_alerts_a_verified_push_at_once(world: World, method: str) -> None:
    sub = verified(world)
    pushed = document(world.hub.url, world.topic, ("n1", "Naira slides again"), ("n2", "Rain"))

    answer = world.hub.publish(sub, pushed, method=method)

    assert answer.status_code == 202
    titles = set(world.db.execute(select(Article.title)).scalars())
    assert {"Naira slides again", "Rain"} <= titles  # stored before the answer
    # Matched and alerted in the callback's process right after the answer: no poll, no sweep.
    wait_until(
        lambda: (
            world.db.commit()
            or world.db.execute(
                select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
            ).scalar_one()
            == 1
        ),
        "the push's alert to be sent",
    )
    world.db.commit()
    hit = world.db.execute(select(Hit)).scalar_one()
    assert world.db.get_one(Article, hit.article_id).title == "Naira slides again"
    assert world.subscription().pushes == 1
    assert world.db.execute(select(Delivery.status)).scalar_one() == DeliveryStatus.SENT


@pytest.mark.parametrize(
    ("secret", "signature"),
    [
        ("not-the-secret", None),
        (None, ""),
        (None, "md5=0123456789abcdef0123456789abcdef"),
        (None, "sha256=" + "0" * 64),
        (None, "sha256=ñandú"),
        (None, "sha256"),
    ],
    ids=["wrong-secret", "no-header", "unknown-method", "wrong-digest", "not-ascii", "no-digest"],
)
def test_it_ignores_a_push_whose_signature_fails(
    world: World, secret: str | None, signature: str | None
) -> None:
    sub = verified(world)
    before = world.db.execute(select(func.count()).select_from(Article)).scalar_one()
    pushed = document(world.hub.url, world.topic, ("forged", "Naira forged"))

    answer = world.hub.publish(sub, pushed, secret=secret, signature=signature)

    assert answer.is_success  # 2xx all the same, as the Recommendation asks
    world.db.commit()
    assert world.db.execute(select(func.count()).select_from(Article)).scalar_one() == before
    row = world.subscription()
    assert (row.pushes, row.rejected_pushes) == (0, 1)
    assert row.last_error is not None and "X-Hub-Signature" in row.last_error


def test_it_refuses_a_push_to_a_callback_it_does_not_know(world: World) -> None:
    verified(world)
    url = world.settings.public_url + "/websub/nope"
    assert httpx.post(url, content=b"<rss/>", timeout=10).status_code == 404


def test_it_renews_the_lease_before_it_ends(world: World) -> None:
    sub = verified(world)
    first = world.subscription()
    assert first.next_request_at is not None and first.lease_expires_at is not None
    assert websub.due_subscription_ids(world.db, now=utcnow()) == []
    # Values, not the row: the row object shows the renewal once it is read again.
    at, first_expires = first.next_request_at, first.lease_expires_at

    assert websub.due_subscription_ids(world.db, now=at) == [first.id]
    assert "requested" in websub.subscribe(world.db, first.id, settings=world.settings, now=at)
    renewed = world.hub.wait_for_subscription(world.topic, requests=2)
    assert renewed.forms[-1]["hub.secret"] == sub.forms[0]["hub.secret"]
    wait_until(lambda: world.subscription().lease_expires_at != first_expires, "the renewal")
    row = world.subscription()
    # Active all along: pushes were taken while the renewal was pending.
    assert row.state == SubscriptionState.ACTIVE and row.lease_expires_at is not None
    assert row.lease_expires_at > first_expires


def test_it_polls_slower_while_the_hub_pushes(world: World) -> None:
    verified(world)
    now = utcnow()
    poll_feed(world.db, world.feed_id, settings=world.settings, now=now)
    feed = world.feed()
    assert feed.next_poll_at is not None
    assert (feed.next_poll_at - now).total_seconds() == pytest.approx(3600)
    # When the lease has ended without a renewal, the feed is polled at its own rate again.
    later = feed.websub_until + timedelta(seconds=1) if feed.websub_until else now
    poll_feed(world.db, world.feed_id, settings=world.settings, now=later)
    feed = world.feed()
    assert feed.next_poll_at is not None
    assert (feed.next_poll_at - later).total_seconds() < 3600


def test_it_records_a_hub_that_refuses_and_retries_later(world: World) -> None:
    world.hub.refuse_with = 500
    poll_feed(world.db, world.feed_id, settings=world.settings, now=utcnow())
    now = utcnow()
    [line] = [
        websub.subscribe(world.db, i, settings=world.settings, now=now)
        for i in websub.due_subscription_ids(world.db, now=now)
    ]
    assert "HTTP 500" in line
    row = world.subscription()
    assert row.state == SubscriptionState.FAILED and row.failures == 1
    assert row.last_error == "the hub answered HTTP 500: subscriptions are closed"
    assert row.next_request_at == now + timedelta(seconds=300)
    assert world.feed().websub_until is None


def test_it_records_a_denial_with_the_hubs_reason(world: World) -> None:
    sub = verified(world)
    assert world.hub.deny(sub, "the publisher asked us to").status_code == 200
    row = world.subscription()
    assert row.state == SubscriptionState.DENIED
    assert row.last_error == "denied by the hub: the publisher asked us to"
    assert world.feed().websub_until is None


def test_it_subscribes_to_nothing_without_a_public_url(world: World) -> None:
    settings = world.settings.model_copy(update={"public_url": None})
    poll_feed(world.db, world.feed_id, settings=settings, now=utcnow())
    assert world.db.execute(select(WebSubSubscription)).first() is None


@pytest.mark.parametrize(
    ("headers", "links", "expected"),
    [
        (
            {"Link": '<https://hub.example/>; rel="hub", <https://f.example/self>; rel="self"'},
            [],
            websub.Hub("https://hub.example/", "https://f.example/self"),
        ),
        (
            {"link": "</hub>; rel=hub"},
            [{"rel": "hub", "href": "https://other.example/"}],
            websub.Hub("https://f.example/hub", "https://f.example/rss"),
        ),
        (
            {},
            [{"rel": "hub", "href": "https://hub.example/"}, {"rel": "self", "href": "/me"}],
            websub.Hub("https://hub.example/", "https://f.example/me"),
        ),
        ({}, [{"rel": "alternate", "href": "https://f.example/"}], None),
        ({"Link": '<javascript:alert(1)>; rel="hub"'}, [], None),
    ],
    ids=["link-header", "header-wins", "document", "no-hub", "not-http"],
)
def test_it_finds_the_hub_in_the_link_header_or_the_document(
    headers: dict[str, str], links: list[dict[str, str]], expected: websub.Hub | None
) -> None:
    parsed = ParsedFeed(entries=[], feed={"links": links})
    assert websub.discover(parsed, headers, url="https://f.example/rss") == expected


def test_the_dashboard_and_api_show_each_subscriptions_state(world: World) -> None:
    sub = verified(world)
    world.hub.publish(sub, document(world.hub.url, world.topic), secret="forged")
    base = world.settings.public_url
    assert base is not None

    [feed] = httpx.get(base + "/api/feeds", timeout=10).json()["items"]
    state = feed["websub"]
    assert state["state"] == "active" and state["hub"] == world.hub.url
    assert state["topic"] == world.topic and state["lease_expires_at"]
    assert (state["pushes"], state["rejected_pushes"]) == (0, 1)
    page = httpx.get(base + "/feeds", timeout=10).text
    assert "ws-active" in page and "1 ignored for a bad signature" in page
    row = world.subscription()
    for text in (httpx.get(base + "/api/feeds", timeout=10).text, page):
        assert row.secret not in text and row.callback_token not in text

    # A lease not renewed in time shows as expired; a hub's address from a feed is escaped.
    row.lease_expires_at = utcnow() - timedelta(seconds=1)
    row.hub_url = 'https://hub.example/"><script>alert(1)</script>'
    world.db.commit()
    assert httpx.get(base + "/api/feeds", timeout=10).json()["items"][0]["websub"]["state"] == (
        "expired"
    )
    page = httpx.get(base + "/feeds", timeout=10).text
    assert "ws-expired" in page and "<script>alert(1)" not in page


def test_the_callback_is_open_to_hubs_when_the_dashboard_needs_a_login(world: World) -> None:
    sub = verified(world)
    settings = world.settings.model_copy(
        update={"dashboard_token": SecretStr("t" * 40), "dashboard_users": None}
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/feeds").status_code == 401
        # No login, no CSRF token: the callback's token and the signature guard it.
        params = {"hub.mode": "subscribe", "hub.topic": world.topic, "hub.challenge": "x"}
        token = world.subscription().callback_token
        assert client.get(f"/websub/{token}", params=params).status_code == 404
        body = document(world.hub.url, world.topic, ("p1", "Pushed"))
        pushed = client.post(
            f"/websub/{token}",
            content=body,
            headers={"X-Hub-Signature": sign(sub.secret, body), "Origin": "http://evil.test"},
        )
        assert pushed.status_code == 202
    assert "Pushed" in set(world.db.execute(select(Article.title)).scalars())


def test_a_push_while_a_poll_holds_the_feed_makes_it_due_at_once(world: World) -> None:
    sub = verified(world)
    claim = claim_feed(world.db, world.feed_id, now=utcnow())
    assert claim is not None

    answer = world.hub.publish(sub, document(world.hub.url, world.topic, ("late", "Late")))

    assert answer.status_code == 202
    feed = world.feed()
    assert feed.next_poll_at is not None and feed.next_poll_at <= utcnow()
    assert world.subscription().pushes == 1


def test_a_callback_process_without_the_watchlists_leaves_pushes_to_the_sweep(
    world: World, tmp_path: Path
) -> None:
    sub = verified(world)
    world.db.add(Watchlist(id="naira", query="naira", definition={}, enabled=True))
    world.db.commit()
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    settings = world.settings.model_copy(update={"watchlists": empty})
    body = document(world.hub.url, world.topic, ("s1", "Naira steadies"))

    with TestClient(create_app(settings)) as client:
        token = world.subscription().callback_token
        headers = {"X-Hub-Signature": sign(sub.secret, body)}
        assert client.post(f"/websub/{token}", content=body, headers=headers).status_code == 202

    world.db.commit()
    article = world.db.execute(
        select(Article).where(Article.title == "Naira steadies")
    ).scalar_one()
    assert article.matched_at is None  # for the worker's sweep, which has the watchlists
    watchlist = world.db.get_one(Watchlist, "naira", populate_existing=True)
    assert watchlist.enabled and watchlist.in_files  # not mirrored as gone
