"""Slack clicks, by hand: how soon Slack gets its answer, and how soon the message changes.

    .venv/bin/python -m benchmarks.slack_actions [--n 100] [--write]

Posts N alerts through the real outbox to the local Slack stand-in, then clicks "Relevant" on
each, one after the other, the two ways Slack reaches us:

- HTTP: the stand-in's signed ``block_actions`` request to ``POST /slack/interactions`` on the
  dashboard (uvicorn on loopback); *ack* is request sent → 200 received (Slack's limit is
  3 s), *update* is request sent → the new message received at the response_url;
- Socket Mode: the same payload as an envelope over the websocket to slack-sdk's client, on
  N other alerts; *ack* is envelope sent → ack received, *update* as above.

On SQLite, and on PostgreSQL when reachable (its own database, dropped after).
``--write`` replaces the section "Slack actions" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.sections import replace_section  # noqa: E402
from monitor import db as storage  # noqa: E402
from monitor.alerts.record import record_hits  # noqa: E402
from monitor.alerts.send import deliver  # noqa: E402
from monitor.config import Settings, load_settings  # noqa: E402
from monitor.dashboard.app import create_app  # noqa: E402
from monitor.logs import configure_logging  # noqa: E402
from monitor.models import Article, Feed, Watchlist  # noqa: E402
from monitor.slackapp.socketmode import Listener  # noqa: E402
from tests.adversarial.test_dashboard import _serve as serve  # noqa: E402
from tests.alerts.conftest import NOW, Result, Spec, alerts  # noqa: E402
from tests.support.slack_interactivity import signed_request  # noqa: E402
from tests.support.slack_standin import SlackStandIn  # noqa: E402

POSTGRES = os.environ.get("MONITOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "benchmark-signing-secret"  # noqa: S105 (the stand-in's, not a real one)
SECTION = "## Slack actions\n"


def post_alerts(settings: Settings, slack: SlackStandIn, n: int) -> list[tuple[str, str]]:
    """N alerts in the stand-in's channel: their (channel, ts)."""
    storage.upgrade(settings)
    spec = Spec(id="floods", name="Floods", alerts=alerts("slack:#desk"))
    with storage.sessionmaker_for(settings)() as session:
        feed = Feed(url="http://127.0.0.1/feed.xml", name="Wire")
        session.add_all([feed, Watchlist(id="floods", name="Floods")])
        session.commit()
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
            [delivery_id] = record_hits(
                session,
                article,
                [Result("floods")],
                watchlists={"floods": spec},
                settings=settings,
                now=NOW,
            )
            session.commit()
            assert deliver(session, delivery_id, settings=settings, now=NOW).sent
            session.commit()
    channel = slack.channel_id("#desk")
    return [(channel, str(m["ts"])) for m in slack.channels[channel]]


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("no update")
        time.sleep(0.001)


def over_http(
    settings: Settings, slack: SlackStandIn, messages: list[tuple[str, str]]
) -> tuple[list[float], list[float]]:
    acks, updates = [], []
    with serve(create_app(settings)) as url, httpx.Client(timeout=10) as client:
        for channel, ts in messages:
            before = len(slack.responses)
            payload = slack.payload(channel, ts, "monitor.relevant")
            body, headers = signed_request(payload, secret=SECRET)
            started = time.perf_counter()
            answer = client.post(url + "/slack/interactions", content=body, headers=headers)
            acks.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.status_code
            wait_for(lambda seen=before: len(slack.responses) > seen)
            updates.append(time.perf_counter() - started)
    return acks, updates


def over_socket(
    settings: Settings, slack: SlackStandIn, messages: list[tuple[str, str]]
) -> tuple[list[float], list[float]]:
    acks, updates = [], []
    listener = Listener(settings)
    listener.connect()
    try:
        assert slack.socket is not None
        for channel, ts in messages:
            before = len(slack.responses)
            payload = slack.payload(channel, ts, "monitor.relevant")
            started = time.perf_counter()
            envelope = slack.socket.send_interactive(payload)
            slack.socket.wait_for_ack(envelope)
            acks.append(time.perf_counter() - started)
            wait_for(lambda seen=before: len(slack.responses) > seen)
            updates.append(time.perf_counter() - started)
    finally:
        listener.close()
    return acks, updates


def summary(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return statistics.median(ordered) * 1000, p95 * 1000, ordered[-1] * 1000


def run(database_url: str, n: int) -> list[tuple[str, list[float], list[float]]]:
    with SlackStandIn() as slack, tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            database_url=database_url,
            var_dir=Path(tmp),
            slack_base_url=slack.base_url,
            slack_bot_token=SecretStr(slack.token),
            slack_signing_secret=SecretStr(SECRET),
            slack_app_token=SecretStr(slack.app_token),
        )
        messages = post_alerts(settings, slack, 2 * n)
        rows = [("HTTP", *over_http(settings, slack, messages[:n]))]
        rows.append(("Socket Mode", *over_socket(settings, slack, messages[n:])))
        storage.dispose_engines()
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="clicks per transport and database")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    configure_logging(level="WARNING")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results += [("sqlite", *row) for row in run(f"sqlite:///{tmp}/bench.db", args.n)]
    name = f"monitor_bench_slack_{os.getpid()}"
    admin_url = POSTGRES.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"PostgreSQL skipped: {type(exc).__name__}")
    else:
        try:
            url = f"{POSTGRES.rsplit('/', 1)[0]}/{name}"
            results += [("postgresql", *row) for row in run(url, args.n)]
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    lines = [
        f"{args.n} clicks per row, one after the other; {platform.python_version()}, "
        f"{os.cpu_count()} cores shared with other jobs. Slack's limit for the answer: 3,000 ms.",
        "",
        "| database | transport | ack p50 ms | ack p95 ms | ack max ms "
        "| update p50 ms | update p95 ms | update max ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for database, transport, acks, updates in results:
        a50, a95, amax = summary(acks)
        u50, u95, umax = summary(updates)
        lines.append(
            f"| {database} | {transport} | {a50:.1f} | {a95:.1f} | {amax:.1f} "
            f"| {u50:.1f} | {u95:.1f} | {umax:.1f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.write:
        write_section(table)


def write_section(table: str) -> None:
    section = (
        SECTION
        + "\n`.venv/bin/python -m benchmarks.slack_actions [--n 100] [--write]`: a click on an"
        " alert's button, by signed HTTP request and over Socket Mode, against the local Slack"
        " stand-in. *ack*: until Slack has its answer; *update*: until the message shows who"
        " did what (the click applied and committed, the new blocks received at the"
        " response_url).\n\n" + table + "\n"
    )
    replace_section(SECTION, section)


if __name__ == "__main__":
    main()
