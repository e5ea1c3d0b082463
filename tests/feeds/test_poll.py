"""poll_feed against a real HTTP server on loopback: statuses, validators, schedule, state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.config import Settings
from monitor.feeds import poll_feed
from monitor.feeds.poll import CLAIM_SECONDS, GONE_REASON, claim_feed, due_feed_ids, release_feed
from monitor.logs import configure_logging
from monitor.models import Article, Feed
from tests.conftest import make_settings
from tests.feeds.conftest import NOW, add_feed, rss
from tests.support.feedserver import FeedServer

# Round numbers make the schedule assertions readable.
INTERVAL = 900
MIN_INTERVAL = 60
MAX_INTERVAL = 86_400
CAP = 6 * 3600


@pytest.fixture
def poll_settings(tmp_path: Path) -> Settings:
    settings = make_settings(
        tmp_path,
        poll_interval=INTERVAL,
        poll_min_interval=MIN_INTERVAL,
        poll_max_interval=MAX_INTERVAL,
        poll_error_backoff_cap=CAP,
        # These tests hold the fixed schedule; the adaptive one is in test_adaptive_polling.py.
        poll_adaptive=False,
        fetch_connect_timeout=1.0,
        fetch_read_timeout=0.5,
        fetch_max_bytes=64 * 1024,
    )
    storage.upgrade(settings)
    return settings


@pytest.fixture
def db(poll_settings: Settings) -> Iterator[Session]:
    with storage.sessionmaker_for(poll_settings)() as session:
        yield session


def due_in(feed: Feed) -> float:
    assert feed.next_poll_at is not None
    return (feed.next_poll_at - NOW).total_seconds()


def reload(db: Session, feed: Feed) -> Feed:
    return db.get_one(Feed, feed.id, populate_existing=True)


def test_it_stores_new_articles_and_the_feed_state(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    server.set(
        "/rss",
        rss(("a", "Naira falls"), ("b", "CBN rules"), title="Daily"),
        etag='"v1"',
        last_modified="Mon, 02 Mar 2026 11:00:00 GMT",
    )
    feed = add_feed(db, server.url("/rss"))

    outcome = poll_feed(db, feed.id, settings=poll_settings, now=NOW)

    assert outcome.outcome == "new" and len(outcome.new_article_ids) == 2
    assert outcome.http_status == 200 and outcome.error is None
    feed = reload(db, feed)
    assert (feed.etag, feed.last_modified) == ('"v1"', "Mon, 02 Mar 2026 11:00:00 GMT")
    assert (feed.title, feed.site_url, feed.language) == (
        "Daily",
        "https://news.example.org/",
        "en",
    )
    assert feed.last_status == 200 and feed.error_streak == 0 and feed.last_error is None
    assert feed.last_polled_at == NOW and feed.last_success_at == NOW
    assert due_in(feed) == INTERVAL
    assert feed.claim_token is None and feed.claimed_until is None
    articles = db.execute(select(Article).order_by(Article.id)).scalars().all()
    assert [a.title for a in articles] == ["Naira falls", "CBN rules"]
    assert all(a.matched_at is None and a.source_feed_id == feed.id for a in articles)
    assert articles[0].url == "https://news.example.org/a"  # utm_source removed
    ua = server.last_headers("/rss")["user-agent"]
    assert ua.startswith("monitor/") and "(+https://" in ua


def test_it_sends_validators_and_a_304_costs_nothing(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    server.set(
        "/rss", rss(("a", "One")), etag='"v1"', last_modified="Mon, 02 Mar 2026 11:00:00 GMT"
    )
    feed = add_feed(db, server.url("/rss"))
    poll_feed(db, feed.id, settings=poll_settings, now=NOW)

    later = NOW + timedelta(hours=1)
    outcome = poll_feed(db, feed.id, settings=poll_settings, now=later)

    assert outcome.outcome == "unchanged" and outcome.http_status == 304
    sent = server.last_headers("/rss")
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == "Mon, 02 Mar 2026 11:00:00 GMT"
    feed = reload(db, feed)
    assert feed.last_status == 304 and feed.etag == '"v1"' and feed.last_success_at == later
    assert feed.next_poll_at == later + timedelta(seconds=INTERVAL)
    assert db.execute(select(func.count(Article.id))).scalar_one() == 1


def test_it_stores_nothing_new_when_the_same_feed_is_polled_again(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    server.set("/rss", rss(("a", "One"), ("b", "Two")))  # no validators: a full 200 each time
    feed = add_feed(db, server.url("/rss"))
    first = poll_feed(db, feed.id, settings=poll_settings, now=NOW)
    again = poll_feed(db, feed.id, settings=poll_settings, now=NOW + timedelta(hours=1))
    server.set("/rss", rss(("a", "One"), ("b", "Two"), ("c", "Three")))
    third = poll_feed(db, feed.id, settings=poll_settings, now=NOW + timedelta(hours=2))

    assert (first.outcome, len(first.new_article_ids)) == ("new", 2)
    assert (again.outcome, again.new_article_ids) == ("unchanged", [])
    assert (third.outcome, len(third.new_article_ids)) == ("new", 1)
    assert db.get_one(Article, third.new_article_ids[0]).title == "Three"


@pytest.mark.parametrize(
    ("status", "headers", "streak", "expected_delay"),
    [
        (404, {}, 1, (INTERVAL * 0.8, INTERVAL * 1.2)),
        (500, {}, 1, (INTERVAL * 0.8, INTERVAL * 1.2)),
        (500, {}, 3, (INTERVAL * 4 * 0.8, INTERVAL * 4 * 1.2)),
        (500, {}, 12, (CAP, CAP)),
        (429, {"Retry-After": "120"}, 1, (120, 120)),
        (503, {"Retry-After": "7200"}, 1, (7200, 7200)),
        (429, {"Retry-After": "Mon, 02 Mar 2026 12:30:00 GMT"}, 1, (1800, 1800)),
        (429, {"Retry-After": "5"}, 1, (MIN_INTERVAL, MIN_INTERVAL)),
    ],
    ids=[
        "404",
        "500",
        "500-third-in-a-row",
        "500-capped",
        "429-seconds",
        "503-seconds",
        "429-date",
        "429-below-minimum",
    ],
)
def test_it_records_errors_and_backs_off(
    server: FeedServer,
    db: Session,
    poll_settings: Settings,
    status: int,
    headers: dict[str, str],
    streak: int,
    expected_delay: tuple[float, float],
) -> None:
    server.set("/rss", b"oops", status=status, headers=headers, content_type="text/plain")
    feed = add_feed(db, server.url("/rss"), error_streak=streak - 1)

    outcome = poll_feed(db, feed.id, settings=poll_settings, now=NOW)

    assert outcome.outcome == "error" and outcome.http_status == status
    feed = reload(db, feed)
    assert feed.last_status == status and feed.error_streak == streak
    assert feed.last_error is not None and str(status) in feed.last_error
    assert feed.enabled and feed.last_success_at is None
    low, high = expected_delay
    assert low <= due_in(feed) <= high


def test_it_resets_the_error_streak_after_a_success(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    server.set("/rss", rss(("a", "One")))
    feed = add_feed(db, server.url("/rss"), error_streak=4, last_error="HTTP 500")
    poll_feed(db, feed.id, settings=poll_settings, now=NOW)
    feed = reload(db, feed)
    assert feed.error_streak == 0 and feed.last_error is None


def test_it_disables_a_feed_that_answers_410(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    server.set("/rss", b"gone", status=410, content_type="text/plain")
    feed = add_feed(db, server.url("/rss"))

    outcome = poll_feed(db, feed.id, settings=poll_settings, now=NOW)

    assert outcome.outcome == "error" and outcome.http_status == 410
    feed = reload(db, feed)
    assert not feed.enabled and feed.disabled_reason == GONE_REASON
    assert feed.last_status == 410
    assert due_feed_ids(db, now=NOW + timedelta(days=30)) == []
    assert poll_feed(db, feed.id, settings=poll_settings, now=NOW).outcome == "disabled"
    assert server.count("/rss") == 1


@pytest.mark.parametrize("status", [301, 308], ids=["301", "308"])
def test_it_follows_a_permanent_redirect_and_stores_the_new_url(
    server: FeedServer, db: Session, poll_settings: Settings, status: int
) -> None:
    server.redirect("/old", server.url("/new"), status=status)
    server.set("/new", rss(("a", "Moved")))
    feed = add_feed(db, server.url("/old"))

    outcome = poll_feed(db, feed.id, settings=poll_settings, now=NOW)

    assert outcome.outcome == "new"
    assert reload(db, feed).url == server.url("/new")
    # Bare GUIDs are scoped to the feed, not its URL: the move stores nothing twice.
    again = poll_feed(db, feed.id, settings=poll_settings, now=NOW + timedelta(hours=1))
    assert again.outcome == "unchanged" and server.count("/old") == 1


@pytest.mark.parametrize("status", [302, 307], ids=["302", "307"])
def test_it_keeps_the_url_after_a_temporary_redirect(
    server: FeedServer, db: Session, poll_settings: Settings, status: int
) -> None:
    server.redirect("/rss", server.url("/today"), status=status)
    server.set("/today", rss(("a", "Temp")))
    feed = add_feed(db, server.url("/rss"))
    assert poll_feed(db, feed.id, settings=poll_settings, now=NOW).outcome == "new"
    assert reload(db, feed).url == server.url("/rss")


def test_it_gives_up_on_a_response_slower_than_the_timeout(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    server.set("/slow", rss(("a", "Late")), delay=1.5)
    feed = add_feed(db, server.url("/slow"))

    outcome = poll_feed(db, feed.id, settings=poll_settings, now=NOW)

    assert outcome.outcome == "error" and "timed out" in (outcome.error or "")
    feed = reload(db, feed)
    assert feed.error_streak == 1 and feed.last_status is None
    assert "timed out" in (feed.last_error or "")
    assert INTERVAL * 0.8 <= due_in(feed) <= INTERVAL * 1.2


@pytest.mark.parametrize("encoding", [None, "gzip"], ids=["plain", "gzip"])
def test_it_refuses_an_oversize_body(
    server: FeedServer, db: Session, poll_settings: Settings, encoding: str | None
) -> None:
    filler = "".join(f"<!-- {i:08d} padding padding padding -->" for i in range(4000))
    server.set("/big", rss(("a", "Big"), extra=filler), encoding=encoding)
    feed = add_feed(db, server.url("/big"))

    outcome = poll_feed(db, feed.id, settings=poll_settings, now=NOW)

    assert outcome.outcome == "error" and "larger than 65536 bytes" in (outcome.error or "")
    assert db.execute(select(func.count(Article.id))).scalar_one() == 0
    assert reload(db, feed).error_streak == 1


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_it_reads_compressed_bodies(
    server: FeedServer, db: Session, poll_settings: Settings, encoding: str
) -> None:
    server.set("/rss", rss(("a", "Packed")), encoding=encoding)
    feed = add_feed(db, server.url("/rss"))
    outcome = poll_feed(db, feed.id, settings=poll_settings, now=NOW)
    assert outcome.outcome == "new"
    assert "gzip" in server.last_headers("/rss")["accept-encoding"]
    assert db.get_one(Article, outcome.new_article_ids[0]).title == "Packed"


def test_it_honours_the_charset_of_content_type_over_the_xml_declaration(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    # The publisher's XML says utf-8 but the bytes are windows-1252, as its header says.
    document = (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Café</title>"
        "<item><guid>x1</guid><title>Le café coûte 5 €</title></item></channel></rss>"
    ).encode("windows-1252")
    server.set("/rss", document, content_type="application/rss+xml; charset=windows-1252")
    feed = add_feed(db, server.url("/rss"))

    outcome = poll_feed(db, feed.id, settings=poll_settings, now=NOW)

    assert outcome.outcome == "new"
    assert db.get_one(Article, outcome.new_article_ids[0]).title == "Le café coûte 5 €"
    feed = reload(db, feed)
    assert feed.title == "Café" and feed.last_error is None


@pytest.mark.parametrize(
    ("headers", "ttl", "expected"),
    [
        ({"Cache-Control": "public, max-age=3600"}, None, 3600),
        ({"Cache-Control": "max-age=30"}, None, INTERVAL),
        ({"Cache-Control": "max-age=999999"}, None, MAX_INTERVAL),
        ({"Expires": "Mon, 02 Mar 2026 14:00:00 GMT"}, None, 7200),
        ({"Cache-Control": "max-age=1800", "Expires": "Mon, 02 Mar 2026 20:00:00 GMT"}, None, 1800),
        ({}, 120, 7200),
        ({"Cache-Control": "no-cache"}, None, INTERVAL),
    ],
    ids=[
        "max-age",
        "max-age-below-interval",
        "max-age-above-maximum",
        "expires",
        "max-age-wins-over-expires",
        "rss-ttl-minutes",
        "no-cache",
    ],
)
def test_it_schedules_the_next_poll_from_the_publishers_hints(
    server: FeedServer,
    db: Session,
    poll_settings: Settings,
    headers: dict[str, str],
    ttl: int | None,
    expected: float,
) -> None:
    server.set("/rss", rss(("a", "One"), ttl=ttl), headers=headers)
    feed = add_feed(db, server.url("/rss"))
    poll_feed(db, feed.id, settings=poll_settings, now=NOW)
    feed = reload(db, feed)
    assert due_in(feed) == expected
    assert feed.ttl_seconds == (ttl * 60 if ttl else None)


def test_it_uses_the_feeds_own_interval(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    server.set("/rss", rss(("a", "One")))
    feed = add_feed(db, server.url("/rss"), interval_seconds=300)
    poll_feed(db, feed.id, settings=poll_settings, now=NOW)
    assert due_in(reload(db, feed)) == 300


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (
            b"<!doctype html><html><body><h1>Welcome</h1></body></html>",
            "text/html; charset=utf-8",
            "not a feed (text/html)",
        ),
        # No root element, and a tag feedparser raises on (TypeError): neither it nor any
        # repair reads it. The feed's health says why in one line, not a bare exception.
        (
            b"stray <title>T</title><image><url>u</url><heiht>1</height></image>",
            "application/rss+xml",
            "not a feed (application/rss+xml): feedparser raised TypeError: int() argument must"
            " be a string, a bytes-like object or a real number, not 'NoneType', and no repair"
            " of it could be read",
        ),
    ],
    ids=["html-page", "unreadable"],
)
def test_it_reports_a_document_that_is_not_a_feed(
    server: FeedServer,
    db: Session,
    poll_settings: Settings,
    body: bytes,
    content_type: str,
    error: str,
) -> None:
    server.set("/page", body, content_type=content_type)
    feed = add_feed(db, server.url("/page"))

    outcome = poll_feed(db, feed.id, settings=poll_settings, now=NOW)

    assert outcome.outcome == "not_a_feed"
    feed = reload(db, feed)
    assert feed.last_error == error and feed.error_streak == 1
    assert db.execute(select(func.count(Article.id))).scalar_one() == 0


def test_it_keeps_what_a_malformed_feed_yields_and_records_the_problem(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    broken = rss(("a", "First"), ("b", "Second")).replace(b"</channel></rss>", b"<item><title>")
    server.set("/rss", broken)
    feed = add_feed(db, server.url("/rss"))

    outcome = poll_feed(db, feed.id, settings=poll_settings, now=NOW)

    assert outcome.outcome == "new" and len(outcome.new_article_ids) >= 2
    feed = reload(db, feed)
    assert feed.error_streak == 0
    assert (feed.last_error or "").startswith("malformed feed")


def test_it_refuses_private_addresses_unless_allowed(server: FeedServer, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, allow_private_feeds=False)
    storage.upgrade(settings)
    server.set("/rss", rss(("a", "Internal")))
    with storage.sessionmaker_for(settings)() as db:
        feed = add_feed(db, server.url("/rss"))
        outcome = poll_feed(db, feed.id, settings=settings, now=NOW)
        assert outcome.outcome == "error"
        assert "private address" in (outcome.error or "")
        assert "MONITOR_ALLOW_PRIVATE_FEEDS" in (reload(db, feed).last_error or "")
    assert server.count("/rss") == 0


def test_it_skips_a_feed_another_worker_holds_and_takes_over_a_stale_claim(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    server.set("/rss", rss(("a", "One")))
    feed = add_feed(
        db, server.url("/rss"), claim_token="other", claimed_until=NOW + timedelta(minutes=5)
    )
    held = poll_feed(db, feed.id, settings=poll_settings, now=NOW)
    assert held.outcome == "skipped" and server.count("/rss") == 0
    assert due_feed_ids(db, now=NOW) == []

    stale = NOW + timedelta(minutes=6)
    assert due_feed_ids(db, now=stale) == [feed.id]
    taken = poll_feed(db, feed.id, settings=poll_settings, now=stale)
    assert taken.outcome == "new"
    assert reload(db, feed).claim_token is None


def test_it_lists_due_feeds_never_polled_first(db: Session) -> None:
    never = add_feed(db, "https://a.example.org/rss")
    late = add_feed(db, "https://b.example.org/rss", next_poll_at=NOW - timedelta(minutes=1))
    add_feed(db, "https://c.example.org/rss", next_poll_at=NOW + timedelta(minutes=1))
    add_feed(db, "https://d.example.org/rss", enabled=False)
    assert due_feed_ids(db, now=NOW) == [never.id, late.id]
    assert due_feed_ids(db, now=NOW, limit=1) == [never.id]


def test_it_records_an_unexpected_failure_on_the_feed(
    server: FeedServer, db: Session, poll_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.set("/rss", rss(("a", "One")))
    feed = add_feed(db, server.url("/rss"))

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("monitor.feeds.poll.store_articles", explode)
    outcome = poll_feed(db, feed.id, settings=poll_settings, now=NOW)
    assert outcome.outcome == "error" and outcome.error == "RuntimeError: disk full"
    feed = reload(db, feed)
    assert feed.error_streak == 1 and feed.claim_token is None


# -- the claim, on both engines -------------------------------------------------------------


def test_it_lets_one_worker_claim_a_feed_and_hands_it_the_row(settings: Settings) -> None:
    maker = storage.sessionmaker_for(settings)
    with maker() as one, maker() as two:
        feed = add_feed(one, "https://a.example.org/rss", etag='"v1"', interval_seconds=120)
        first = claim_feed(one, feed.id, now=NOW)
        second = claim_feed(two, feed.id, now=NOW)
        assert first is not None and second is None
        assert (first.url, first.etag, first.interval_seconds, first.error_streak) == (
            "https://a.example.org/rss",
            '"v1"',
            120,
            0,
        )
        # Committed, so every other worker sees it.
        assert reload(two, feed).claim_token == first.token


def test_it_does_not_write_a_poll_whose_claim_was_taken_over(settings: Settings) -> None:
    maker = storage.sessionmaker_for(settings)
    with maker() as slow, maker() as other:
        feed = add_feed(slow, "https://a.example.org/rss")
        lost = claim_feed(slow, feed.id, now=NOW)
        assert lost is not None
        # The slow worker outlives its claim; another takes the feed over.
        later = NOW + timedelta(seconds=CLAIM_SECONDS + 1)
        taken = claim_feed(other, feed.id, now=later)
        assert taken is not None

        assert not release_feed(slow, lost, {"last_status": 500, "error_streak": 1})
        slow.commit()
        stored = reload(other, feed)
        assert stored.claim_token == taken.token and stored.last_status is None

        assert release_feed(other, taken, {"last_status": 304, "next_poll_at": later})
        other.commit()
        stored = reload(other, feed)
        assert stored.claim_token is None and stored.claimed_until is None
        assert (stored.last_status, stored.next_poll_at) == (304, later)


def test_it_polls_unchanged_feeds_with_two_statements_on_each_engine(
    server: FeedServer, settings: Settings
) -> None:
    server.set("/rss", rss(("a", "One")), etag='"v1"')
    with storage.sessionmaker_for(settings)() as db:
        feed = add_feed(db, server.url("/rss"))
        feed_id = feed.id
        assert poll_feed(db, feed_id, settings=settings, now=NOW).outcome == "new"
        later = NOW + timedelta(hours=1)
        statements: list[str] = []

        def record(*args: Any) -> None:
            statements.append(args[2])

        engine = db.get_bind()
        event.listen(engine, "before_cursor_execute", record)
        try:
            outcome = poll_feed(db, feed_id, settings=settings, now=later)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert outcome.outcome == "unchanged" and outcome.http_status == 304
        # The claim (which also reads the row) and the outcome (which also releases it).
        assert [s.split()[0] for s in statements] == ["UPDATE", "UPDATE"]
        # The feed object the caller holds shows the new state without a reload.
        assert (feed.last_status, feed.error_streak, feed.etag) == (304, 0, '"v1"')
        assert feed.last_polled_at == later and feed.claim_token is None
        assert feed.next_poll_at == later + timedelta(seconds=settings.poll_interval)


def test_it_never_sends_a_publishers_cookie_back(
    server: FeedServer, db: Session, poll_settings: Settings
) -> None:
    server.set("/rss", rss(("a", "One")), headers={"Set-Cookie": "visitor=42; Path=/"})
    feed = add_feed(db, server.url("/rss"))
    poll_feed(db, feed.id, settings=poll_settings, now=NOW)
    poll_feed(db, feed.id, settings=poll_settings, now=NOW + timedelta(hours=1))
    assert server.count("/rss") == 2 and "cookie" not in server.last_headers("/rss")


@pytest.mark.parametrize(("level", "logged"), [("INFO", True), ("WARNING", False)], ids=str)
def test_it_logs_each_poll_at_info(
    server: FeedServer,
    db: Session,
    poll_settings: Settings,
    capsys: pytest.CaptureFixture[str],
    level: str,
    logged: bool,
) -> None:
    configure_logging(level=level, fmt="json")
    server.set("/rss", rss(("a", "One")))
    feed = add_feed(db, server.url("/rss"))
    poll_feed(db, feed.id, settings=poll_settings, now=NOW)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    polled = [line for line in lines if line.get("event") == "feed polled"]
    assert len(polled) == logged
    if logged:
        assert (polled[0]["feed"], polled[0]["outcome"], polled[0]["new"]) == (feed.id, "new", 1)
