"""The JSON API, the pages and the export, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.models import Delivery, Feed, Hit, Watchlist
from tests.conftest import make_settings
from tests.dashboard.conftest import NOW, seeded


def _all_pages(client: TestClient, query: str, limit: int) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        url = f"/api/hits?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url).json()
        ids += [row["id"] for row in body["items"]]
        cursor = body["next"]
        if cursor is None:
            return ids


@pytest.mark.parametrize("limit", [1, 7, 30, 100], ids=["1", "7", "30", "100"])
def test_it_pages_without_duplicates_or_gaps(client: TestClient, limit: int) -> None:
    ids = _all_pages(client, "", limit)
    assert len(ids) == 30
    assert len(set(ids)) == 30
    times = [row["created_at"] for row in client.get("/api/hits?limit=100").json()["items"]]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("watchlist=acme", 15),
        ("watchlist=energy", 15),
        ("range=1h", 30),
        ("range=24h", 30),
        ("range=7d", 30),
        ("feed=", 30),
        ("q=HEADLINE%201", 11),  # 1, 10..19
        ("q=snippet%2012%20", 1),
        ("q=100%25", 0),
        ("watchlist=acme&q=merger", 15),
    ],
    ids=[
        "watchlist-acme",
        "watchlist-energy",
        "1h",
        "24h",
        "7d",
        "empty-feed-means-any",
        "text",
        "snippet",
        "like-escape",
        "both",
    ],
)
def test_it_filters_hits(client: TestClient, query: str, count: int) -> None:
    assert len(_all_pages(client, query, 4)) == count


def test_it_filters_by_feed_and_custom_range(client: TestClient) -> None:
    first = client.get("/api/hits?limit=1").json()["items"][0]
    feed_rows = client.get(f"/api/hits?feed={first['feed_id']}&limit=100").json()["items"]
    assert len(feed_rows) == 15 and {r["feed_id"] for r in feed_rows} == {first["feed_id"]}
    since = (NOW - timedelta(minutes=9, seconds=30)).isoformat()
    until = (NOW - timedelta(minutes=4, seconds=30)).isoformat()
    rows = client.get("/api/hits", params={"range": "custom", "from": since, "to": until})
    assert len(rows.json()["items"]) == 5


def test_it_returns_only_newer_hits_after_a_cursor(client: TestClient) -> None:
    rows = client.get("/api/hits?limit=100").json()["items"]
    newer = client.get(f"/api/hits?after={rows[3]['cursor']}").json()["items"]
    assert [r["id"] for r in newer] == [r["id"] for r in rows[:3]]


_HUGE_CURSOR = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|" + b"9" * 30).decode()


@pytest.mark.parametrize(
    "query",
    [
        "cursor=garbage!",
        f"cursor={_HUGE_CURSOR}",
        "range=2y",
        "from=yesterday",
        "feed=" + "9" * 30,
        "feed=%C2%B2",  # '²': a digit to isdigit(), not to int()
        "feed=" + "9" * 5000,  # more digits than int() reads
    ],
    ids=[
        "cursor",
        "cursor-past-64-bits",
        "range",
        "from",
        "feed-past-64-bits",
        "feed-superscript",
        "feed-too-long-for-int",
    ],
)
def test_it_refuses_bad_parameters_with_400(client: TestClient, query: str) -> None:
    assert client.get(f"/api/hits?{query}").status_code == 400
    if not query.startswith("cursor="):  # the export takes the filters, not a cursor
        assert client.get(f"/api/hits/export?{query}").status_code == 400


def test_it_shows_hit_detail_with_deliveries(client: TestClient) -> None:
    newest = client.get("/api/hits?limit=1").json()["items"][0]
    assert newest["delivery_status"] == "failed"
    detail = client.get(f"/api/hits/{newest['id']}").json()
    assert detail["explanation"] == {"title": ["acme"]}
    assert detail["delivery_status"] == "failed"  # the same summary as in the list
    assert detail["deliveries"][0]["last_error"] == "channel_not_found"
    page = client.get(f"/hits/{newest['id']}").text
    assert "<mark>acme</mark>" in page and "channel_not_found" in page
    assert client.get("/api/hits/999999").status_code == 404


def test_it_lists_watchlists_feeds_and_deliveries(client: TestClient) -> None:
    wls = {w["id"]: w for w in client.get("/api/watchlists").json()["items"]}
    assert wls["acme"]["hits_24h"] == 15 and wls["acme"]["hits_7d"] == 15
    assert sum(wls["acme"]["per_day"]) == 15 and len(wls["acme"]["per_day"]) == 30
    assert "unknown key" in wls["energy"]["load_error"]
    assert wls["acme"]["last_hit"] == NOW.isoformat()
    keys = {d["key"]: d["flagged"] for d in wls["acme"]["destinations"]}
    assert keys == {"slack:#desk": "channel_not_found", "email:a@x.org": None}
    feeds = client.get("/api/feeds").json()["items"]
    assert [f["status"] for f in feeds] == ["erroring", "ok"]  # broken first
    assert client.get("/api/feeds?sort=name").json()["items"][0]["name"].startswith("http")
    deliveries = client.get("/api/deliveries").json()["items"]
    assert [d["status"] for d in deliveries] == ["failed"]
    watchlists = client.get("/watchlists").text
    assert "<svg" in watchlists and "YAML error: line 3: unknown key" in watchlists
    assert "HTTP 500" in client.get("/feeds").text
    assert "channel_not_found" in client.get("/deliveries").text


def test_it_exports_csv_and_json_of_the_current_filter(client: TestClient) -> None:
    data = client.get("/api/hits/export?watchlist=acme&format=json")
    assert data.headers["content-disposition"].startswith("attachment")
    assert len(data.json()) == 15
    text = client.get("/api/hits/export?watchlist=energy&format=csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 15 and {r["watchlist"] for r in rows} == {"energy"}


def test_it_renders_the_home_page_with_marks_and_escapes(client: TestClient) -> None:
    page = client.get("/?watchlist=acme")
    assert page.status_code == 200
    rows = page.text.split("<tbody>")[1]
    assert "<mark>acme</mark>" in rows and "solar" not in rows
    # Headline linked to the article, its source, the worst delivery status of the newest hit.
    assert '<a href="http://wire.test/0" rel="noopener noreferrer nofollow"' in rows
    assert "<td>Wire</td>" in rows and 's-failed">failed<' in rows
    assert 'href="/api/hits/export?watchlist=acme&amp;format=csv"' in page.text


def test_it_filters_by_time_range(settings: Settings) -> None:
    with seeded(settings, hits=30) as made:
        for n, age in enumerate((timedelta(days=10), timedelta(days=2), timedelta(hours=3))):
            made["hits"][27 + n].created_at = NOW - age
    client = TestClient(create_app(settings))
    counts = {r: len(_all_pages(client, f"range={r}", 50)) for r in ("1h", "24h", "7d", "")}
    assert counts == {"1h": 27, "24h": 28, "7d": 29, "": 30}


def test_it_serves_openapi_and_metrics(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    api = {"/api/hits", "/api/hits/export", "/api/hits/{hit_id}", "/api/watchlists"}
    assert api | {"/api/feeds", "/api/deliveries", "/healthz"} <= set(paths)
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")


def test_it_reports_healthy(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_it_names_the_database_when_it_is_down(tmp_path: object) -> None:
    settings = make_settings(tmp_path, database_url="postgresql://127.0.0.1:1/nothing")  # type: ignore[arg-type]
    response = TestClient(create_app(settings)).get("/healthz")
    assert response.status_code == 503
    assert response.json()["failed"] == {"database": "unreachable"}


@pytest.mark.redis
def test_it_names_the_broker_when_it_is_down(sqlite_settings: Settings, tmp_path: object) -> None:
    settings = sqlite_settings.model_copy(update={"broker_url": "redis://:s3cret@127.0.0.1:1/0"})
    response = TestClient(create_app(settings)).get("/healthz")
    assert response.status_code == 503
    assert "broker" in response.json()["failed"] and "s3cret" not in response.text


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://evil")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"],
    ids=["equals", "plus", "minus", "at", "tab", "carriage-return"],
)
def test_it_guards_csv_cells_against_formulas(sqlite_settings: Settings, text: str) -> None:
    with seeded(sqlite_settings, hits=2) as made:
        made["hits"][0].article.title = text
        made["hits"][1].snippet = text
    export = TestClient(create_app(sqlite_settings)).get("/api/hits/export").text
    rows = list(csv.DictReader(io.StringIO(export, newline="")))
    assert rows[0]["title"] == "'" + text and rows[1]["snippet"] == "'" + text


def test_it_lists_other_sources_of_the_same_story(sqlite_settings: Settings) -> None:
    from monitor.models import Article, Story

    with seeded(sqlite_settings, hits=1) as made:
        story = Story(title="Acme merger")
        made["session"].add(story)
        made["session"].flush()
        made["hits"][0].article.story_id = story.id
        made["session"].add(
            Article(
                identity="e" * 64,
                url="http://other.test/acme",
                title="Acme merges, says Other",
                story_id=story.id,
            )
        )
    hit_id = made["hits"][0].id
    client = TestClient(create_app(sqlite_settings))
    others = client.get(f"/api/hits/{hit_id}").json()["also_reported_by"]
    assert others == [
        {
            "title": "Acme merges, says Other",
            "url": "http://other.test/acme",
            "source": "other.test",
        }
    ]
    assert "Acme merges, says Other" in client.get(f"/hits/{hit_id}").text


def test_it_pages_the_hits_page_by_cursor(client: TestClient) -> None:
    first = client.get("/?watchlist=acme").text  # 15 hits: one page of 50
    assert "Older →" not in first and 'data-live="on"' in first
    page = client.get("/").text  # 30 hits: still one page
    assert "Older →" not in page
    older = client.get("/api/hits?limit=10").json()["next"]
    paged = client.get(f"/?cursor={older}").text
    # A page deep in history links back to the newest and does not refresh itself live.
    assert 'href="/?">Newest' in paged and 'data-live=""' in paged
    assert paged.count('<td class="snippet">') == 20


def _more_failed_deliveries(session: Session, hits: list[Hit], count: int) -> None:
    for n in range(count):
        hit = hits[n % len(hits)]
        session.add(
            Delivery(
                dedupe_key=f"extra{n}",
                hit_id=hit.id,
                watchlist_id=hit.watchlist_id,
                destination="slack:#desk",
                channel="slack",
                status="retrying" if n % 3 else "failed",
                created_at=NOW - timedelta(seconds=n),
            )
        )


def test_it_pages_and_filters_failed_deliveries(settings: Settings) -> None:
    with seeded(settings, hits=4) as made:
        _more_failed_deliveries(made["session"], made["hits"], 250)
    client = TestClient(create_app(settings))
    ids: list[int] = []
    cursor = ""
    while cursor is not None:
        body = client.get("/api/deliveries", params={"limit": 60, "cursor": cursor}).json()
        ids += [d["id"] for d in body["items"]]
        cursor = body["next"]
    assert len(ids) == len(set(ids)) == 251  # the seeded failed one and the 250
    acme = client.get("/api/deliveries?watchlist=acme&limit=500").json()["items"]
    assert len(acme) == 126 and {d["watchlist"] for d in acme} == {"acme"}
    page = client.get("/deliveries").text
    assert page.count("<tr>") == 100 + 1 and "Older →" in page
    assert client.get("/api/deliveries?cursor=nonsense").status_code == 400


@pytest.mark.parametrize(
    ("sort", "first"),
    [
        ("status", "erroring"),
        ("name", "Gone"),
        ("error_streak", "erroring"),
        ("items_per_day", "Wire"),
        ("last_polled_at", "Wire"),
        ("next_poll_at", "Gone"),
    ],
    ids=["status", "name", "error-streak", "items-per-day", "last-poll", "next-poll"],
)
def test_it_sorts_the_feed_health_table(settings: Settings, sort: str, first: str) -> None:
    with seeded(settings, hits=2) as made:
        wire = made["feeds"][0]
        wire.last_polled_at = NOW - timedelta(hours=1)
        wire.next_poll_at = NOW + timedelta(minutes=30)
        made["session"].add(
            Feed(
                url="http://gone.test/rss",
                name="Gone",
                enabled=False,
                disabled_reason="HTTP 410 Gone",
                error_streak=0,
                next_poll_at=NOW + timedelta(minutes=5),
            )
        )
    rows = TestClient(create_app(settings)).get(f"/api/feeds?sort={sort}").json()["items"]
    assert [r["status"] for r in rows].count("disabled") == 1
    assert first in (rows[0]["status"], rows[0]["name"])
    page = TestClient(create_app(settings)).get(f"/feeds?sort={sort}").text
    assert f'href="/feeds?sort={sort}" class="sorted"' in page


def _add_watchlists(session: Session, count: int) -> None:
    for n in range(count):
        session.add(Watchlist(id=f"w-{n:03d}", name=f"Desk {n} 100%", query="x", definition={}))
    session.commit()


def test_it_pages_watchlists_by_id_and_finds_them_by_id_or_name(
    client: TestClient, session: Session
) -> None:
    _add_watchlists(session, 12)
    seen: list[str] = []
    after = None
    while True:
        body = client.get("/api/watchlists", params={"limit": 5, "after": after}).json()
        assert len(body["items"]) <= 5
        seen += [w["id"] for w in body["items"]]
        after = body["next"]
        if after is None:
            break
    everything = client.get("/api/watchlists?limit=1000").json()
    assert everything["next"] is None
    assert seen == sorted(seen) == [w["id"] for w in everything["items"]]
    assert {"acme", "energy", "w-000", "w-011"} <= set(seen) and len(seen) == 14
    # Case-insensitive, in ids and names, with LIKE's wildcards taken literally.
    assert [w["id"] for w in client.get("/api/watchlists?q=ACM").json()["items"]] == ["acme"]
    assert len(client.get("/api/watchlists?q=desk 1").json()["items"]) == 3  # 1, 10, 11
    assert len(client.get("/api/watchlists?q=0%25").json()["items"]) == 12  # '0%' in names
    assert client.get("/api/watchlists?q=_").json()["items"] == []
    page = client.get("/watchlists?q=desk&limit=5").text
    assert 'href="/watchlists?after=w-004&amp;q=desk"' in page and "w-005" not in page
    assert "w-011" in client.get("/watchlists?q=desk&after=w-009").text


def test_it_counts_a_page_of_watchlists_in_a_fixed_number_of_queries(
    client: TestClient, session: Session, settings: Settings
) -> None:
    from sqlalchemy import event

    from monitor import db
    from monitor.dashboard.queries import watchlist_stats

    def statements(limit: int) -> int:
        engine = db.get_engine(settings)
        count = 0

        def seen(*_: Any) -> None:
            nonlocal count
            count += 1

        event.listen(engine, "before_cursor_execute", seen)
        try:
            with db.sessionmaker_for(settings)() as s:
                rows, _ = watchlist_stats(s, NOW, limit=limit)
                assert len(rows) == min(limit, 32)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        return count

    _add_watchlists(session, 30)
    assert statements(2) == statements(32)


def test_it_pages_feed_health(client: TestClient) -> None:
    every = client.get("/api/feeds?sort=name").json()
    assert every["next"] is None and len(every["items"]) == 2
    first = client.get("/api/feeds?sort=name&limit=1").json()
    assert first["next"] == 1 and first["items"] == every["items"][:1]
    second = client.get("/api/feeds?sort=name&limit=1&offset=1").json()
    assert second["next"] is None and second["items"] == every["items"][1:]


def test_it_asks_for_a_watchlist_id_when_there_are_too_many_to_list(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.dashboard import queries

    assert '<select name="watchlist"' in client.get("/").text
    monkeypatch.setattr(queries, "MENU_MAX", 1)
    page = client.get("/?watchlist=acme").text
    assert '<select name="watchlist"' not in page
    assert '<input type="search" name="watchlist" value="acme"' in page


def test_it_shows_the_article_language_and_the_detection(
    client: TestClient, session: Session
) -> None:
    from monitor.models import Article

    newest = client.get("/api/hits?limit=1").json()["items"][0]
    assert newest["language"] is None and newest["detected_language"] is None
    hit = session.get_one(Hit, newest["id"])
    article = session.get_one(Article, hit.article_id)
    article.language, article.detected_language, article.language_confidence = "ru", "ru", 0.78
    session.commit()
    detail = client.get(f"/api/hits/{newest['id']}").json()
    assert (detail["language"], detail["detected_language"]) == ("ru", "ru")
    assert detail["language_confidence"] == pytest.approx(0.78)
    assert "ru (detected ru, 78% sure)" in client.get(f"/hits/{newest['id']}").text
    assert client.get("/api/hits/export?format=csv").text.splitlines()[0].endswith(",language")
    # The query shown is the one the article matched through: its language's translation.
    hit.watchlist.definition = {**hit.watchlist.definition, "translations": {"ru": "merger"}}
    session.commit()
    page = client.get(f"/hits/{newest['id']}").text
    assert '<p class="query"><code><mark>merger</mark></code></p>' in page
