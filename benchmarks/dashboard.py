"""Dashboard latency at a million hits, by hand:
``.venv/bin/python -m benchmarks.dashboard [--hits 1000000] [--requests 100] [--only sqlite]``.

Seeds a throw-away database (SQLite file; PostgreSQL database ``bench_dashboard``) with
``--hits`` hits over 20 watchlists and 50 feeds spread across 30 days, then times the
recent-hits page and ``/api/hits`` in process (FastAPI TestClient, so routing, queries,
templates and JSON are all counted; no network), with and without filters, and the overview
page over each of its ranges, after the hourly roll-up a worker would have done (its time is
printed too). The app is set up as ``serve()`` sets it up (its start-up heap frozen). The last
columns are each page's size and the bytes sent for it (gzipped where the server does that;
the test client asks for gzip as a browser does, so the times include compressing it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from fastapi.testclient import TestClient  # noqa: E402

from monitor import db as storage  # noqa: E402
from monitor.config import Settings, load_settings  # noqa: E402
from monitor.dashboard import heap  # noqa: E402
from monitor.dashboard.app import create_app  # noqa: E402
from monitor.trends.rollup import roll_up  # noqa: E402

POSTGRES = os.environ.get("MONITOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime.now(UTC).replace(microsecond=0)
WATCHLISTS = 20
FEEDS = 50
BATCH = 20_000


def _rows(n: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    span = 30 * 86400
    articles, hits = [], []
    for i in range(1, n + 1):
        # Written as SQLAlchemy writes times on SQLite (always with microseconds): SQLite
        # compares them as text, and '...21:00:00' sorts before '...21:00:00.000000'.
        moment = (NOW - timedelta(seconds=span * (n - i) // n)).replace(tzinfo=None)
        at = moment.isoformat(" ", timespec="microseconds")
        word = ("acme", "solar", "merger", "strike", "drought")[i % 5]
        articles.append(
            (i, f"{i:064x}", f"http://wire.test/{i}", f"Story {i} about {word}", i % FEEDS + 1, at)
        )
        snippet = f"Reporters say {word} news number {i} developed today."
        hits.append(
            (i, f"w{i % WATCHLISTS}", i, at, snippet, f"[[14, {14 + len(word)}]]", '["x"]', "{}")
        )
    return articles, hits


def seed(settings: Settings, n: int) -> float:
    started = time.perf_counter()
    engine = storage.get_engine(settings)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO feeds (id, url, name, tags, fulltext, enabled, in_config,"
                " error_streak, created_at, updated_at) VALUES (:i, :u, :n, '[]', false, true,"
                " true, 0, :t, :t)"
            ),
            [
                {
                    "i": i,
                    "u": f"http://f{i}.test/rss",
                    "n": f"Feed {i}",
                    "t": NOW.replace(tzinfo=None),
                }
                for i in range(1, FEEDS + 1)
            ],
        )
        c.execute(
            text(
                "INSERT INTO watchlists (id, name, query, enabled, definition, in_files,"
                " loaded_at) VALUES (:i, :nm, 'x', true, '{}', true, :t)"
            ),
            [
                {"i": f"w{i}", "nm": f"w{i}", "t": NOW.replace(tzinfo=None)}
                for i in range(WATCHLISTS)
            ],
        )
    articles, hits = _rows(n)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if settings.is_sqlite:
            for s in range(0, n, BATCH):
                cur.executemany(
                    "INSERT INTO articles (id, identity, url, title, summary, content,"
                    " source_feed_id, first_seen_at) VALUES (?, ?, ?, ?, '', '', ?, ?)",
                    articles[s : s + BATCH],
                )
                cur.executemany(
                    "INSERT INTO hits (id, watchlist_id, article_id, created_at, snippet,"
                    " highlights, matched, fields, explanation, source_count)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, '[]', ?, 1)",
                    hits[s : s + BATCH],
                )
        else:
            with cur.copy(  # type: ignore[attr-defined]
                "COPY articles (id, identity, url, title, source_feed_id, first_seen_at,"
                " summary, content) FROM STDIN"
            ) as copy:
                for row in articles:
                    copy.write_row((*row, "", ""))
            with cur.copy(  # type: ignore[attr-defined]
                "COPY hits (id, watchlist_id, article_id, created_at, snippet, highlights,"
                " matched, explanation, fields, source_count) FROM STDIN"
            ) as copy:
                for row in hits:
                    copy.write_row((*row, "[]", 1))
            cur.execute("SELECT setval('hits_id_seq', %s)", (n,))
            cur.execute("SELECT setval('articles_id_seq', %s)", (n,))
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


CASES = [
    ("page /", "/"),
    ("page / watchlist", "/?watchlist=w7"),
    ("api /api/hits", "/api/hits"),
    ("api watchlist", "/api/hits?watchlist=w7"),
    ("api feed", "/api/hits?feed=11"),
    ("api 24h", "/api/hits?range=24h"),
    ("api text 'solar'", "/api/hits?q=solar"),
    ("api watchlist+7d+text", "/api/hits?watchlist=w3&range=7d&q=acme"),
    ("api page 200 deep", None),
    ("overview 24h", "/overview?range=24h"),
    ("overview 7d", "/overview?range=7d"),
    ("overview 30d", "/overview?range=30d"),
    ("overview 90d", "/overview?range=90d"),
]


def measure(settings: Settings, requests: int) -> list[tuple[str, float, float, int, int]]:
    client = TestClient(create_app(settings))
    heap.settle()  # as serve() does before it answers anything
    out = []
    for name, url in CASES:
        if url is None:
            # Walk 200 pages in, then time the next page from there (keyset: no OFFSET cost).
            cursor = None
            for _ in range(200):
                cursor = client.get(
                    "/api/hits", params={"cursor": cursor} if cursor else {}
                ).json()["next"]
            url = f"/api/hits?cursor={cursor}"
        client.get(url)  # warm the cache and the plan
        times = []
        for _ in range(requests):
            t = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        times.sort()
        # The body as the server sent it (gzipped where it does that; the test client asks
        # for gzip as browsers do), and as the browser has it.
        with client.stream("GET", url) as raw:
            sent = sum(len(chunk) for chunk in raw.iter_raw())
        sizes = (len(response.content), sent)
        out.append((name, statistics.median(times), times[int(len(times) * 0.95) - 1], *sizes))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hits", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--rows", help="time only the requests whose name contains this")
    args = parser.parse_args()
    if args.rows:
        CASES[:] = [case for case in CASES if args.rows in case[0]]
    results: dict[str, list[tuple[str, float, float, int, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        urls = {}
        if args.only != "postgresql":
            urls["sqlite"] = f"sqlite:///{tmp}/bench.db"
        if args.only != "sqlite":
            admin = create_engine(
                POSTGRES.replace("postgresql://", "postgresql+psycopg://"),
                isolation_level="AUTOCOMMIT",
            )
            with admin.connect() as c:
                c.execute(text('DROP DATABASE IF EXISTS "bench_dashboard" WITH (FORCE)'))
                c.execute(text('CREATE DATABASE "bench_dashboard"'))
            admin.dispose()
            urls["postgresql"] = POSTGRES.rsplit("/", 1)[0] + "/bench_dashboard"
        for db, url in urls.items():
            settings = load_settings(
                database_url=url, broker_url=f"sqla+sqlite:///{tmp}/broker.db", var_dir=Path(tmp)
            )
            storage.upgrade(settings)
            took = seed(settings, args.hits)
            print(f"{db}: seeded {args.hits:,} hits in {took:.0f} s", flush=True)
            started = time.perf_counter()
            with storage.session_scope(settings) as session:
                hours = roll_up(session, now=NOW)
            took = time.perf_counter() - started
            print(f"{db}: rolled up {hours:,} hours in {took:.0f} s", flush=True)
            results[db] = measure(settings, args.requests)
            storage.dispose_engines()
    print(f"\n{args.hits:,} hits, {args.requests} requests per row, times in ms\n")
    dbs = list(results)
    print("| request | " + " | ".join(f"{d} p50 | {d} p95" for d in dbs) + " | KB | KB sent |")
    print("|---|" + "---:|---:|" * len(dbs) + "---:|---:|")
    for i, (name, _) in enumerate(CASES):
        cells = " | ".join(f"{results[d][i][1]:.1f} | {results[d][i][2]:.1f}" for d in dbs)
        page, sent = results[dbs[0]][i][3:]
        print(f"| {name} | {cells} | {page / 1000:.0f} | {sent / 1000:.0f} |")


if __name__ == "__main__":
    main()
