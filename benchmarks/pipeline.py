"""End-to-end pipeline benchmark: throughput from poll to stored hits, and alert latency.

Runs the real service (celery worker and beat processes on Redis + PostgreSQL, or ``monitor
run`` on the embedded SQLite default) against the loopback feed server and Slack stand-in of
the pipeline tests, and prints a table (1, 2 and 4 worker processes, and the embedded mode):

- throughput: N new articles appear at once across F feeds; articles/s from publication until
  every one is stored and matched and every hit is stored;
- latency: one matching item at a time; seconds from publication until the Slack stand-in
  accepts the alert, p50 and p95;
- beside each throughput, bare ``feedparser.parse`` entries/s over the same feed bytes, in
  the same run;
- after the first one-worker row, each stage's cost per article in this process on the same
  bytes (parse, normalise, fingerprinting for stories, matching, the statements, the rest).

    .venv/bin/python benchmarks/pipeline.py                  # all three set-ups
    .venv/bin/python benchmarks/pipeline.py --write          # and update docs/benchmarks.md
    .venv/bin/python benchmarks/pipeline.py --warm-start 100000   # the first alert after a
                                                             # worker start, 100k stories

The warm start: with N stories in the clustering window, how long a starting worker spends
loading the story index (``story index warm`` in its log), and the first alert's poll → Slack
time for an item that is already waiting when the worker starts (its match task waits for the
load) and for one published once the load is done.

Needs PostgreSQL and Redis for the scaled-out rows (MONITOR_TEST_POSTGRES_URL,
MONITOR_TEST_REDIS_URL, as the tests); uses Redis database 12, flushed first.
"""

from __future__ import annotations

import argparse
import platform
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pipeline.harness import (  # noqa: E402  (after the path is set)
    Stack,
    postgres_available,
    redis_available,
    redis_url,
)

SECTION = "## Pipeline"
# The shipped defaults, not the tests' quicker sweeps: a 1 s tick and a 5 s grace would
# re-send every backlogged delivery over and over and measure that instead.
PRODUCTION = {
    "MONITOR_BEAT_SCHEDULE_SECONDS": 5,
    "MONITOR_BEAT_SWEEP_SECONDS": 15,
    "MONITOR_SWEEP_GRACE_SECONDS": 60,
}


@dataclass
class Row:
    setup: str
    articles: int
    seconds: float
    latencies: list[float]
    pipeline: list[float]
    # Bare feedparser over the same feed bytes, in the same run: entries and seconds.
    parsed: int = 0
    parse_seconds: float = 0.0
    stages: Stages | None = None
    # Seconds the worker processes spent in each task until every hit was stored.
    busy: dict[str, float] | None = None

    @property
    def feedparser_rate(self) -> float:
        return self.parsed / self.parse_seconds if self.parse_seconds else 0.0

    @property
    def throughput(self) -> float:
        return self.articles / self.seconds if self.seconds else 0.0

    @staticmethod
    def percentile(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _publish_backlog(stack: Stack, articles: int) -> tuple[list[str], int]:
    """N new items across the feeds before the service starts, so that the first polls (all
    due at once) carry them all; half of them match the watchlist."""
    guids, expected_hits = [], 0
    for n in range(articles):
        feed = stack.feed_names[n % len(stack.feed_names)]
        if n % 2 == 0:
            item = stack.feed_server.publish(
                feed, f"Blackout hits district {n} after turbine failure"
            )
            expected_hits += 1
        else:
            item = stack.feed_server.publish(feed, f"Market report {n}: stocks steady")
        guids.append(item.guid)
    return guids, expected_hits


def _run(
    stack: Stack,
    *,
    setup: str,
    backlog: tuple[list[str], int],
    samples: int,
    then: Callable[[], object] = lambda: None,
) -> Row:
    feeds = stack.feed_names
    guids, expected_hits = backlog
    articles = len(guids)
    _wait_for_backlog(stack, articles=articles, hits=expected_hits)
    # From the first poll that carried any of them away (the wait for the next poll, up to
    # the feed's interval, is not the pipeline's throughput) to the last hit stored.
    seconds = time.time() - min(stack.feed_server.served_at[g] for g in guids)
    busy = task_seconds(stack)
    then()
    stack.wait_until(lambda: stack.counts()["sent"] >= expected_hits, 600, "backlog alerts sent")

    latencies, pipeline = [], []
    for n in range(samples):
        marker = f"lat-{n}-{time.time_ns()}"
        item = stack.feed_server.publish(feeds[n % len(feeds)], f"Turbine failure {marker}")
        latencies.append(
            stack.wait_until(lambda m=marker: stack.posts_for(m) >= 1, 120, marker, poll=0.02)
        )
        accepted = next(p.accepted_at for p in stack.slack.posted if marker in p.text)
        pipeline.append(accepted - stack.feed_server.served_at[item.guid])
        # Publish at a random point of the poll cycle, as news does.
        time.sleep(random.uniform(0, 10))
    return Row(setup, articles, seconds, latencies, pipeline, busy=busy)


def _wait_for_backlog(stack: Stack, *, articles: int, hits: int, timeout: float = 600) -> None:
    """Return as soon as every article is stored and matched and every hit stored: one
    statement on one open connection every 10 ms, so the clock stops within about 10 ms of
    the last commit and the watching costs the database little."""
    from sqlalchemy import text

    query = text(
        "SELECT (SELECT count(*) FROM articles), "
        "(SELECT count(*) FROM articles WHERE matched_at IS NULL), (SELECT count(*) FROM hits)"
    )
    deadline = time.monotonic() + timeout
    with stack.engine.connect() as connection:
        while time.monotonic() < deadline:
            try:
                stored, unmatched, found = connection.execute(query).one()
            except Exception:  # the workers may still be creating the schema's first rows
                connection.rollback()
                time.sleep(0.01)
                continue
            connection.rollback()  # a fresh snapshot each time
            if stored >= articles and unmatched == 0 and found >= hits:
                return
            time.sleep(0.01)
    raise AssertionError(f"the backlog was not matched within {timeout} s: {stack.counts()}")


def bare_feedparser(stack: Stack, *, rounds: int = 3) -> tuple[int, float]:
    """Entries and seconds of bare ``feedparser.parse`` over the bytes the feed server serves
    for every feed right now (the backlog's own bytes), the fastest of *rounds*."""
    import feedparser

    documents = [stack.feed_server.render(name) for name in stack.feed_names]
    best, entries = float("inf"), 0
    for _ in range(rounds):
        started = time.perf_counter()
        entries = sum(len(feedparser.parse(body).entries) for body in documents)
        best = min(best, time.perf_counter() - started)
    return entries, best


@dataclass
class Stages:
    """Milliseconds per article of each stage, measured in this process on the same feed
    bytes, against the stack's database."""

    articles: int
    parse: float  # feedparser alone
    normalise: float  # articles_from_bytes beyond feedparser
    fingerprint: float  # clustering fingerprints (MinHash)
    matching: float  # Matcher.match, explanations included
    language: float  # settling the language: py3langid on the text, inside match_articles
    statements: float  # time inside the database driver, store + match_articles
    statement_count: int  # statements sent for the whole run of batches
    batches: int
    store_and_match: float  # store_articles + match_articles, wall clock

    @property
    def rest(self) -> float:
        return (
            self.store_and_match
            - self.fingerprint
            - self.matching
            - self.language
            - self.statements
        )


def stage_costs(stack: Stack) -> Stages:
    """Run the stages one by one in this process on the bytes the feeds serve, stored as new
    articles (fresh identities) in the stack's database, one poll's batch at a time."""
    import dataclasses
    import hashlib

    from sqlalchemy import event

    from monitor import pipeline
    from monitor.clustering import article_fingerprint
    from monitor.config import load_settings
    from monitor.db import session_scope
    from monitor.documents import WITH_FEEDS, stored_document
    from monitor.feeds.normalise import articles_from_bytes
    from monitor.feeds.store import store_articles
    from monitor.matching.language import settle
    from monitor.models import Article, Feed, utcnow

    settings = load_settings(
        database_url=stack.database_url,
        watchlists=stack.workdir / "watchlists",
        feeds=stack.workdir / "feeds.yaml",
        var_dir=stack.workdir / "bench-var",
    )
    documents = [stack.feed_server.render(name) for name in stack.feed_names]
    entries, parse = bare_feedparser(stack)
    normalised = float("inf")
    for _ in range(3):  # the fastest of 3, as the bare parse: one pass is noisier than the gap
        started = time.perf_counter()
        parsed = [articles_from_bytes(body) for body in documents]
        normalised = min(normalised, time.perf_counter() - started)
    normalise = normalised - parse
    # New articles of the same shape: new identities and headlines (the same headlines from
    # the same host would each start a story of their own anyway, at the same cost).
    salt = f"stage-{time.time_ns()}"
    parsed = [
        [
            dataclasses.replace(
                a,
                identity=hashlib.sha256((salt + a.identity).encode()).hexdigest(),
                title=f"{a.title} (again)",
            )
            for a in batch
        ]
        for batch in parsed
    ]
    registry = pipeline.load_registry(settings)
    in_driver = [0.0]
    count = [0]
    starts: list[float] = []

    def before(*_: object) -> None:
        starts.append(time.perf_counter())

    def after(*_: object) -> None:
        in_driver[0] += time.perf_counter() - starts.pop()
        count[0] += 1

    ids: list[int] = []
    with session_scope(settings) as session:
        pipeline.sync_registry(session, registry, force=True)
        session.commit()
        feed_ids = dict(session.execute(select(Feed.name, Feed.id)).all())
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        started = time.perf_counter()
        now = utcnow()
        for name, batch in zip(stack.feed_names, parsed, strict=True):
            new = store_articles(session, feed_ids[name], batch, now=now)
            session.commit()
            pipeline.match_articles(session, new, registry=registry, settings=settings, now=now)
            ids.extend(new)
        store_and_match = time.perf_counter() - started
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        articles = session.scalars(
            select(Article).where(Article.id.in_(ids)).options(WITH_FEEDS)
        ).all()
        started = time.perf_counter()
        for article in articles:
            article_fingerprint(article)
        fingerprint = time.perf_counter() - started
        docs = [stored_document(article) for article in articles]
        started = time.perf_counter()
        for doc in docs:
            registry.matcher.match(doc)
        matching = time.perf_counter() - started
        started = time.perf_counter()
        for article in articles:
            settle(article.language, article.title, article.summary, article.content)
        language = time.perf_counter() - started
    n = max(1, len(ids))
    ms = 1000.0
    return Stages(
        articles=len(ids),
        parse=parse / max(1, entries) * ms,
        normalise=normalise / max(1, entries) * ms,
        fingerprint=fingerprint / n * ms,
        matching=matching / n * ms,
        language=language / n * ms,
        statements=in_driver[0] / n * ms,
        statement_count=count[0],
        batches=len(documents),
        store_and_match=store_and_match / n * ms,
    )


def stages_table(stages: Stages) -> str:
    rows = [
        ("parse (bare feedparser)", stages.parse),
        ("normalise (beyond feedparser)", stages.normalise),
        ("store + stories + match + record, of which:", stages.store_and_match),
        ("&nbsp;&nbsp;fingerprinting for stories (MinHash)", stages.fingerprint),
        ("&nbsp;&nbsp;matching (`Matcher.match`)", stages.matching),
        ("&nbsp;&nbsp;language detection (`settle`, py3langid)", stages.language),
        (
            f"&nbsp;&nbsp;statements ({stages.statement_count} for {stages.batches} batches, "
            "time inside the driver)",
            stages.statements,
        ),
        ("&nbsp;&nbsp;the rest (Python around them: ORM loads, rows, bookkeeping)", stages.rest),
    ]
    lines = ["| stage | ms per article |", "|---|---:|"]
    lines += [f"| {label} | {value:.3f} |" for label, value in rows]
    return "\n".join(lines)


def task_seconds(stack: Stack) -> dict[str, float]:
    """Seconds spent in each task so far, summed over every worker process (the
    ``monitor_task_duration_seconds`` histogram the workers write for /metrics)."""
    from monitor.metrics import exposition

    text = exposition(stack.workdir / "var" / "metrics").decode()
    found = re.findall(r'monitor_task_duration_seconds_sum\{task="monitor\.(\w+)"\} (\S+)', text)
    return {task: float(value) for task, value in found}


def busy_table(rows: list[Row]) -> str:
    tasks = ["poll_feed", "match_articles", "deliver", "schedule_due_feeds", "sweep"]
    lines = [
        "| set-up | wall clock | "
        + " | ".join(f"in `{t}`" for t in tasks)
        + " | ms per article in `match_articles` |",
        "|---|---:|" + "---:|" * len(tasks) + "---:|",
    ]
    for row in rows:
        if not row.busy:
            continue
        cells = " | ".join(f"{row.busy.get(t, 0.0):.1f} s" for t in tasks)
        per = row.busy.get("match_articles", 0.0) / row.articles * 1000
        lines.append(f"| {row.setup} | {row.seconds:.1f} s | {cells} | {per:.2f} |")
    return "\n".join(lines)


def bench_redis(
    workers: int,
    *,
    articles: int,
    feeds: int,
    samples: int,
    stages: bool = False,
    alerts_during: bool = False,
) -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack.redis(Path(tmp), redis_db=12, feeds=feeds, env=PRODUCTION)
        try:
            stack.upgrade()
            backlog = _publish_backlog(stack, articles)
            parsed, parse_seconds = bare_feedparser(stack)
            for n in range(workers):
                stack.worker(f"w{n + 1}", concurrency=1, queues="poll,match")

            # Alerts go out from a process of their own, as docker-compose.yml deploys them.
            # By default it starts once the backlog's hits are stored: on two shared cores,
            # sending a thousand Slack messages at the same time takes CPU from the pipeline
            # (the row with alerts during it measures that), while bare feedparser is timed
            # with nothing beside it.
            def alerts() -> None:
                stack.worker("alerts", concurrency=1, queues="alerts")

            if alerts_during:
                alerts()
            stack.beat().wait_for("beat lease taken", 60)
            plural = "es" if workers > 1 else ""
            row = _run(
                stack,
                setup=f"Redis + PostgreSQL, {workers} worker process{plural}"
                + (", alerts sent meanwhile" if alerts_during else ""),
                backlog=backlog,
                samples=samples,
                then=(lambda: None) if alerts_during else alerts,
            )
            row.parsed, row.parse_seconds = parsed, parse_seconds
            if stages:
                row.stages = stage_costs(stack)
            return row
        finally:
            stack.close()


def bench_embedded(*, articles: int, feeds: int, samples: int) -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack.embedded(Path(tmp), feeds=feeds, env=PRODUCTION)
        try:
            backlog = _publish_backlog(stack, articles)
            parsed, parse_seconds = bare_feedparser(stack)
            stack.monitor_run(concurrency=2).wait_for("beat lease taken", 120)
            row = _run(
                stack,
                setup="embedded (monitor run: SQLite + SQLite broker, 2 processes)",
                backlog=backlog,
                samples=samples,
            )
            row.parsed, row.parse_seconds = parsed, parse_seconds
            return row
        finally:
            stack.close()


def _seed_stories(stack: Stack, stories: int) -> None:
    """Stories spread over the last day, inside the default 72 h window, with random
    signatures: unrelated stories hash like independent random values."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from monitor.clustering import NUM_PERM
    from monitor.models import Story

    rng = random.Random(5)
    now = datetime.now(UTC)
    rows = [
        {
            "first_seen_at": now - timedelta(seconds=n % 86_400),
            "title": f"Seeded story {n}",
            "article_count": 1,
            "signature": [rng.getrandbits(32) for _ in range(NUM_PERM)],
        }
        for n in range(stories)
    ]
    with stack.engine.begin() as connection:
        for start in range(0, stories, 5000):
            connection.execute(insert(Story), rows[start : start + 5000])


def _first_alert(stack: Stack, marker: str) -> float:
    """Poll → Slack seconds of the item carrying *marker*."""
    stack.wait_until(lambda: stack.posts_for(marker) >= 1, 180, marker, poll=0.02)
    item = next(i for items in stack.feed_server.items.values() for i in items if marker in i.title)
    accepted = next(p.accepted_at for p in stack.slack.posted if marker in p.text)
    return accepted - stack.feed_server.served_at[item.guid]


def bench_warm_start(stories: int) -> str:
    """Side by side in one run on Redis + PostgreSQL: an item waiting when the worker starts,
    then, after a restart, an item published once the worker says its index is warm."""
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack.redis(Path(tmp), redis_db=12, feeds=1, env=PRODUCTION)
        try:
            stack.upgrade()
            _seed_stories(stack, stories)
            feed = stack.feed_names[0]
            stack.feed_server.publish(feed, "Turbine failure during-start")
            stack.beat().wait_for("beat lease taken", 60)
            worker = stack.worker("w1", concurrency=1)
            during = _first_alert(stack, "during-start")
            worker.wait_for("story index warm", 300)
            load = _warm_seconds(worker.output())

            worker.stop(timeout=60)
            offset = len(worker.output())
            worker = stack.worker("w1", concurrency=1)
            worker.wait_for("story index warm", 300, after=offset)
            reload = _warm_seconds(worker.output()[offset:])
            stack.feed_server.publish(feed, "Turbine failure after-warm")
            after = _first_alert(stack, "after-warm")
        finally:
            stack.close()
    return (
        "| stories in the window | index load at worker start | first alert, item waiting at "
        "start: poll → Slack | first alert, item published after the load: poll → Slack |\n"
        "|---:|---:|---:|---:|\n"
        f"| {stories:,} | {load:.1f} s (restart: {reload:.1f} s) | {during:.2f} s | "
        f"{after:.2f} s |"
    )


def _warm_seconds(log: str) -> float:
    found = re.search(r"story index warm.*?seconds=([0-9.]+)", log)
    return float(found.group(1)) if found else float("nan")


def table(rows: list[Row]) -> str:
    lines = [
        "| set-up | articles | poll → hits stored | throughput | bare feedparser, same bytes "
        "| throughput ÷ feedparser | feed change → Slack p50 | p95 | poll → Slack p50 | p95 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    pct = Row.percentile
    for row in rows:
        lines.append(
            f"| {row.setup} | {row.articles} | {row.seconds:.1f} s | "
            f"{row.throughput:.1f} articles/s | {row.feedparser_rate:,.0f} entries/s | "
            # Three places: 0.2455 must not read as the target's 0.25.
            f"{row.throughput / row.feedparser_rate if row.feedparser_rate else 0:.3f} | "
            f"{pct(row.latencies, 0.5):.2f} s | "
            f"{pct(row.latencies, 0.95):.2f} s | {pct(row.pipeline, 0.5):.2f} s | "
            f"{pct(row.pipeline, 0.95):.2f} s |"
        )
    return "\n".join(lines)


def write_section(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION in current:
        before, rest = current.split(SECTION, 1)
        after = rest.split("\n## ", 1)
        tail = "\n## " + after[1] if len(after) > 1 else ""
        # The subsections are measured by their own command (--warm-start) or written from
        # the figures by a person (where the time goes): keep them.
        kept = after[0].split("\n### ", 1)
        if len(kept) > 1:
            text = text.rstrip("\n") + "\n\n### " + kept[1].rstrip("\n") + "\n"
        current = before + text + tail
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--feeds", type=int, default=10)
    parser.add_argument("--samples", type=int, default=20, help="latency samples per set-up")
    parser.add_argument(
        "--embedded-articles",
        type=int,
        default=200,
        help="articles for the embedded row: its broker polls its queues once a second, so "
        "the backlog's alerts (half the articles) take minutes to send before the latency part",
    )
    parser.add_argument(
        "--setups",
        default="redis1,redis1+alerts,redis2,redis4,embedded",
        help="comma list: redisN (N worker processes), redisN+alerts (the alerts process "
        "running from the start), embedded",
    )
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument(
        "--warm-start",
        type=int,
        metavar="STORIES",
        help="only measure the first alert after a worker start with this many stories",
    )
    args = parser.parse_args()
    if args.warm_start:
        print(bench_warm_start(args.warm_start))
        return

    rows = []
    for setup in args.setups.split(","):
        common = {"articles": args.articles, "feeds": args.feeds, "samples": args.samples}
        if setup.startswith("redis"):
            if not (redis_available(redis_url(12)) and postgres_available()):
                print(f"skipping {setup}: Redis or PostgreSQL not reachable", file=sys.stderr)
                continue
            during = setup.endswith("+alerts")
            workers = int(setup.removeprefix("redis").removesuffix("+alerts") or 1)
            first = workers == 1 and not during and not any(r.stages for r in rows)
            rows.append(bench_redis(workers, stages=first, alerts_during=during, **common))
        elif setup == "embedded":
            rows.append(bench_embedded(**{**common, "articles": args.embedded_articles}))
        else:
            parser.error(f"unknown set-up {setup!r}")
        print(table(rows[-1:]).splitlines()[-1], file=sys.stderr)

    result = table(rows)
    if any(row.busy for row in rows):
        result += (
            "\n\nWhere the worker processes' time went until every hit was stored, from the "
            "task-duration histogram they write for /metrics (summed over the processes; "
            "`deliver` runs in the alerts process, which sends the alerts of the hits already "
            "stored):"
            "\n\n" + busy_table(rows)
        )
    staged = next((r for r in rows if r.stages), None)
    if staged is not None and staged.stages is not None:
        result += (
            f"\n\nCost per article of each stage, in one process on the same feed bytes "
            f"({staged.stages.articles} articles stored as new, one feed's entries per batch, "
            f"on the same PostgreSQL), measured right after the '{staged.setup}' row:\n\n"
            + stages_table(staged.stages)
        )
    print(result)
    if args.write:
        command = "python benchmarks/pipeline.py " + " ".join(
            f"--{k}={v}" for k, v in vars(args).items() if k != "write"
        )
        machine = f"{platform.machine()}, {platform.python_version()}, 2 cores shared"
        section = (
            f"{SECTION}\n\n"
            "End to end with real processes against the loopback feed server and Slack "
            "stand-in (`tests/pipeline/servers.py`). Throughput: articles published at once "
            "across the feeds, from publication until every article is stored and matched and "
            "every hit stored (half of them match), timed from the first poll that carried them. "
            "Latency: one matching item at a time, published at a random moment: 'feed change → "
            "Slack' includes waiting for the next poll (feeds are polled every 10 s, the shortest "
            "interval feeds.yaml allows; the scheduling tick is the default 5 s); "
            "'poll → Slack' is the pipeline's own part, from the poll response to the Slack "
            "stand-in accepting the alert. 'bare feedparser, same bytes': `feedparser.parse` "
            "alone over the documents the feed server served for the backlog, in the benchmark's "
            "own process, fastest of 3, measured in the same run just before the workers start; "
            "'throughput ÷ feedparser' is the issue's target (at least 0.25 for one worker "
            "process on Redis + PostgreSQL). A 'worker process' is one `celery worker -c 1` on "
            "the poll and match queues; beside them run one `celery worker -c 1` on the alerts "
            "queue (alerts leave from their own process, as in docker-compose.yml) and one "
            "`celery beat`.\n\n"
            f"Command: `{command}` ({machine}).\n\n{result}\n"
        )
        write_section(section)


if __name__ == "__main__":
    main()
