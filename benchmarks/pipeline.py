"""End-to-end pipeline benchmark: throughput from poll to stored hits, and alert latency.

Runs the real service (celery worker and beat processes on Redis + PostgreSQL, or ``monitor
run`` on the embedded SQLite default) against the loopback feed server and Slack stand-in of
the pipeline tests, and prints a table:

- throughput: N new articles appear at once across F feeds; articles/s from publication until
  every one is stored and matched and every hit is stored;
- latency: one matching item at a time; seconds from publication until the Slack stand-in
  accepts the alert, p50 and p95.

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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pipeline.harness import (  # noqa: E402  (after the path is set)
    Stack,
    postgres_available,
    redis_available,
    redis_url,
)

SECTION = "## Pipeline"
WARM_START = "### The first alert after a worker starts"
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


def _run(stack: Stack, *, setup: str, backlog: tuple[list[str], int], samples: int) -> Row:
    feeds = stack.feed_names
    guids, expected_hits = backlog
    articles = len(guids)
    stack.wait_until(
        lambda: (
            (c := stack.counts())["articles"] >= articles
            and c["unmatched"] == 0
            and c["hits"] >= expected_hits
        ),
        600,
        "every article stored and matched",
        poll=0.05,
    )
    # From the first poll that carried any of them away (the wait for the next poll, up to
    # the feed's interval, is not the pipeline's throughput) to the last hit stored.
    seconds = time.time() - min(stack.feed_server.served_at[g] for g in guids)
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
    return Row(setup, articles, seconds, latencies, pipeline)


def bench_redis(workers: int, *, articles: int, feeds: int, samples: int) -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack.redis(Path(tmp), redis_db=12, feeds=feeds, env=PRODUCTION)
        try:
            stack.upgrade()
            backlog = _publish_backlog(stack, articles)
            for n in range(workers):
                stack.worker(f"w{n + 1}", concurrency=1)
            stack.beat().wait_for("beat lease taken", 60)
            return _run(
                stack,
                setup=f"Redis + PostgreSQL, {workers} worker process{'es' if workers > 1 else ''}",
                backlog=backlog,
                samples=samples,
            )
        finally:
            stack.close()


def bench_embedded(*, articles: int, feeds: int, samples: int) -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack.embedded(Path(tmp), feeds=feeds, env=PRODUCTION)
        try:
            backlog = _publish_backlog(stack, articles)
            stack.monitor_run(concurrency=2).wait_for("beat lease taken", 120)
            return _run(
                stack,
                setup="embedded (monitor run: SQLite + SQLite broker, 2 processes)",
                backlog=backlog,
                samples=samples,
            )
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
        "| set-up | articles | poll → hits stored | throughput | feed change → Slack p50 | p95 "
        "| poll → Slack p50 | p95 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    pct = Row.percentile
    for row in rows:
        lines.append(
            f"| {row.setup} | {row.articles} | {row.seconds:.1f} s | "
            f"{row.throughput:.1f} articles/s | {pct(row.latencies, 0.5):.2f} s | "
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
        # The warm-start subsection is measured by its own command (--warm-start): keep it.
        kept = after[0].split(WARM_START, 1)
        if len(kept) > 1:
            text = text.rstrip("\n") + "\n\n" + WARM_START + kept[1].rstrip("\n") + "\n"
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
        "--setups", default="redis1,redis2,embedded", help="comma list: redis1,redis2,embedded"
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
            rows.append(bench_redis(int(setup.removeprefix("redis") or 1), **common))
        elif setup == "embedded":
            rows.append(bench_embedded(**common))
        else:
            parser.error(f"unknown set-up {setup!r}")
        print(table(rows[-1:]).splitlines()[-1], file=sys.stderr)

    result = table(rows)
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
            "stand-in accepting the alert.\n\n"
            f"Command: `{command}` ({machine}).\n\n{result}\n"
        )
        write_section(section)


if __name__ == "__main__":
    main()
