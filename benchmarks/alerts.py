"""Alerting throughput, by hand: ``.venv/bin/python -m benchmarks.alerts [--n 500]``.

Measures, on SQLite and (when reachable) PostgreSQL:
- record_hits: articles recorded per second, each hit with one instant Slack delivery and one
  hourly email digest (a commit per article, as the pipeline does);
- deliver: deliveries per second through the real slack-sdk to the local Slack stand-in,
  claim + send + record, with p50/p95 of one call;
and the rendering time of one Block Kit message and one email (both parts).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor import db as storage  # noqa: E402
from monitor.alerts.formatting import email_bodies, slack_payload  # noqa: E402
from monitor.alerts.message import AlertItem, Message  # noqa: E402
from monitor.alerts.record import record_hits  # noqa: E402
from monitor.alerts.send import deliver  # noqa: E402
from monitor.config import load_settings  # noqa: E402
from monitor.destinations import AlertSpec, parse_destination  # noqa: E402
from monitor.logs import configure_logging  # noqa: E402
from monitor.models import Article, Feed, Watchlist  # noqa: E402
from tests.support.slack_standin import SlackStandIn  # noqa: E402

POSTGRES = os.environ.get("MONITOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)


@dataclass(frozen=True)
class Result:
    watchlist_id: str = "floods"
    matched: tuple[str, ...] = ("flood",)
    fields: tuple[str, ...] = ("title",)
    explanation: dict[str, list[str]] = field(default_factory=lambda: {"title": ["flood"]})
    snippet: str = "Heavy flood hits Lagos after a night of rain."
    highlights: tuple[tuple[int, int], ...] = ((6, 11),)


@dataclass(frozen=True)
class Spec:
    id: str = "floods"
    name: str = "Floods"
    alerts: tuple[AlertSpec, ...] = (
        parse_destination("slack:#desk"),
        parse_destination("email:desk@example.org").model_copy(update={"digest": "hourly"}),
    )
    throttle: str | None = None
    escalate_at: int | None = None


def run(database_url: str, n: int, slack: SlackStandIn) -> tuple[float, float, float, float]:
    settings = load_settings(
        database_url=database_url,
        slack_base_url=slack.base_url,
        slack_bot_token=SecretStr(slack.token),
    )
    storage.upgrade(settings)
    session = storage.sessionmaker_for(settings)()
    feed = Feed(url="http://127.0.0.1/feed.xml", name="Wire")
    session.add_all([feed, Watchlist(id="floods", name="Floods")])
    session.commit()
    specs = {"floods": Spec()}
    ids: list[int] = []
    started = time.perf_counter()
    for number in range(n):
        article = Article(
            identity=f"bench-{number}",
            url=f"https://news.example/{number}",
            title=f"Flood {number}",
            source_feed_id=feed.id,
            published_at=NOW,
        )
        session.add(article)
        session.flush()
        ids += record_hits(
            session, article, [Result()], watchlists=specs, settings=settings, now=NOW
        )
        session.commit()
    recorded = n / (time.perf_counter() - started)
    calls = []
    started = time.perf_counter()
    for delivery_id in ids:
        one = time.perf_counter()
        assert deliver(session, delivery_id, settings=settings, now=NOW).sent
        calls.append(time.perf_counter() - one)
    delivered = len(ids) / (time.perf_counter() - started)
    session.close()
    storage.dispose_engines()
    calls.sort()
    return (
        recorded,
        delivered,
        statistics.median(calls) * 1000,
        calls[int(len(calls) * 0.95)] * 1000,
    )


def render_times(repeat: int = 2000) -> tuple[float, float]:
    item = AlertItem(
        watchlist_id="floods",
        watchlist_name="Floods",
        title="<!channel> Flood & rain",
        url="https://news.example/a",
        source="Wire",
        published_at=NOW,
        snippet="Heavy flood hits Lagos after a night of rain. " * 4,
        highlights=((6, 11),),
        matched=("flood",),
        fields=("title",),
    )
    message = Message(kind="instant", items=(item,), delivery_id=1)
    started = time.perf_counter()
    for _ in range(repeat):
        slack_payload(message)
    slack_us = (time.perf_counter() - started) / repeat * 1e6
    started = time.perf_counter()
    for _ in range(repeat):
        email_bodies(message)
    email_us = (time.perf_counter() - started) / repeat * 1e6
    return slack_us, email_us


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500, help="articles per database")
    args = parser.parse_args()
    configure_logging(level="WARNING")
    rows = []
    with SlackStandIn() as slack, tempfile.TemporaryDirectory() as tmp:
        rows.append(("sqlite", *run(f"sqlite:///{tmp}/bench.db", args.n, slack)))
        name = f"monitor_bench_alerts_{os.getpid()}"
        admin_url = POSTGRES.replace("postgresql://", "postgresql+psycopg://", 1)
        try:
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            print(f"PostgreSQL skipped: {type(exc).__name__}")
        else:
            try:
                rows.append(
                    ("postgresql", *run(f"{POSTGRES.rsplit('/', 1)[0]}/{name}", args.n, slack))
                )
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"{args.n} articles, each: 1 hit, 1 instant Slack delivery, 1 hourly email digest\n")
    print("| database | record_hits articles/s | deliver /s | deliver p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    for name, recorded, delivered, p50, p95 in rows:
        print(f"| {name} | {recorded:,.0f} | {delivered:,.0f} | {p50:.1f} | {p95:.1f} |")
    slack_us, email_us = render_times()
    print(
        f"\nrender: Block Kit {slack_us:,.0f} µs, email plain+HTML {email_us:,.0f} µs per message"
    )


if __name__ == "__main__":
    main()
